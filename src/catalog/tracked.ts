// What a change to the catalog did, found without copying or comparing the whole of it. The
// change works on a draft: proxies over the catalog this process read, copy-on-write. Reading
// goes to the catalog itself (nothing is copied for the 10,000 rows a change looks through);
// the first write into a row copies that row (and a write into a collection, that collection's
// array), and the write goes to the copy. So the catalog that read() returned is never changed
// (a change that fails leaves nothing to undo), and what the change did is exactly the rows that
// are other objects now: a delta — the rows to put, the keys to drop — that the journal records
// in one line (journal.ts). A change that reorders a collection, or leaves two rows with one
// key, is not a delta: it is written whole instead.
import type { CatalogData } from './schema.ts';

/** The collections of keyed rows, and the field that is each row's key. */
export const KEYS = {
  volumes: 'name',
  snapshots: 'id',
  qrvs: 'id',
  jobs: 'id',
  policies: 'name',
  subclients: 'name',
  pools: 'name',
} as const;
export type Collection = keyof typeof KEYS;
export const COLLECTIONS = Object.keys(KEYS) as Collection[];

type Row = Record<string, unknown>;

/** What one change did: rows to put (in place, or appended when new), keys to drop, settings to set. */
export interface Delta {
  put: Partial<Record<Collection, Row[]>>;
  drop: Partial<Record<Collection, string[]>>;
  settings?: CatalogData['settings'];
}

export function emptyDelta(delta: Delta): boolean {
  return Object.keys(delta.put).length === 0 && Object.keys(delta.drop).length === 0 && delta.settings === undefined;
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** Asked of a draft's collection, gives its rows as they are now, without a proxy for each. */
const RAW = Symbol('qrv.rawRows');

/**
 * Where the rows that pass `test` are in `rows` (a collection of a change's draft, or any array),
 * found without the proxy a look through the draft makes for every row it reads: a change that
 * updates a few rows of 10,000 finds them with this, then writes through `rows[i]`. `test` gets
 * the rows themselves: it must only read them.
 */
export function positionsWhere<T>(rows: T[], test: (row: T) => boolean): number[] {
  const raw = (rows as unknown as Record<symbol, T[] | undefined>)[RAW] ?? rows;
  const found: number[] = [];
  raw.forEach((row, i) => {
    if (test(row)) found.push(i);
  });
  return found;
}

/** A change's view of the catalog: hand `draft` to the change, then `settle()` and `delta()`. */
export class Tracker {
  readonly draft: CatalogData;
  /** The new catalog: the read one's fields; a collection written to is a copy of its array. */
  readonly next: CatalogData;
  private readonly proxies = new WeakMap<object, object>();
  private readonly targets = new WeakMap<object, object>();
  /** Which row an object of the read catalog is part of (a collection's array and settings: themselves). */
  private readonly owners = new WeakMap<object, object>();
  /** The copy a write made of an object of the read catalog, which every later access goes to; and back. */
  private readonly copies = new WeakMap<object, object>();
  private readonly originals = new WeakMap<object, object>();
  private readonly collectionOf = new Map<object, Collection>();
  private readonly rowsBefore = new Map<Collection, Set<object>>();
  /** Whether a write copied a row (settle() then looks for rows that have copies). */
  private rowsCopied = false;

  constructor(private readonly data: CatalogData) {
    this.next = { ...data };
    for (const name of COLLECTIONS) this.collectionOf.set(data[name], name);
    this.draft = this.rootProxy();
  }

  /** The object a value stands for now: a proxy's target, or the copy a write made of it. */
  private resolve(value: unknown): unknown {
    if (!isObject(value)) return value;
    const target = this.targets.get(value) ?? value;
    return this.copies.get(target) ?? target;
  }

  private current(target: object): object {
    return this.copies.get(target) ?? target;
  }

  /** What the draft hands out for `value`, found at `key` in `parent` (an object of the read catalog or its copy). */
  private view(value: unknown, parent: object, key: string | symbol): unknown {
    if (!isObject(value) || typeof value === 'function') return value;
    const known = this.proxies.get(value);
    if (known) return known;
    const name = this.collectionOf.get(parent);
    // A row of a collection is its own owner (not noted: a scan of 10,000 rows makes 10,000 of them).
    if (name)
      return this.current(parent) === parent || this.isReadRow(name, value, key) ? this.wrap(value, null) : value;
    const own = this.owners.get(parent) ?? parent;
    if (this.current(parent) === parent) return this.wrap(value, own);
    const original = this.originals.get(value);
    if (original) return this.wrap(original, own);
    return value; // the change's own object, put there by it
  }

  /** Whether `row`, found at `key` of collection `name`, is a row of the read catalog (mostly where it was: no set of 10,000 made). */
  private isReadRow(name: Collection, row: object, key: string | symbol): boolean {
    const rows = this.data[name] as unknown as Record<string | symbol, unknown>;
    if (rows[key] === row) return true;
    let before = this.rowsBefore.get(name);
    if (!before) this.rowsBefore.set(name, (before = new Set(this.data[name] as object[])));
    return before.has(row);
  }

  private rootProxy(): CatalogData {
    const tracked = (key: string | symbol) => key === 'settings' || (typeof key === 'string' && key in KEYS);
    return new Proxy(this.next, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (!tracked(key) || !isObject(value)) return value;
        const read = this.originals.get(value) ?? value;
        return read === this.data.settings || this.collectionOf.has(read) ? this.wrap(read, read) : value;
      },
      set: (target, key, value) => {
        if (!tracked(key) && (key !== 'schemaVersion' || value !== target.schemaVersion))
          throw new Error(`the catalog's ${String(key)} cannot be changed`);
        return Reflect.set(target, key, this.toStore(value));
      },
      deleteProperty: (_target, key) => {
        throw new Error(`the catalog's ${String(key)} cannot be removed`);
      },
    });
  }

  /** Before a write into `target`: the row it is part of is copied (once); a collection's array is copied, not its rows. */
  private copyOwner(target: object): void {
    const owner = this.owners.get(target) ?? target;
    if (this.copies.has(owner)) return;
    const name = this.collectionOf.get(owner);
    if (!name && owner !== this.data.settings) this.rowsCopied = true;
    const copy = name ? [...(owner as unknown[])] : this.copyNoting(owner);
    this.copies.set(owner, copy);
    this.originals.set(copy, owner);
    if (name && this.next[name] === owner) (this.next as unknown as Record<string, unknown>)[name] = copy;
    if (owner === this.data.settings && this.next.settings === owner)
      this.next.settings = copy as CatalogData['settings'];
  }

  /** A deep copy of JSON-shaped `value`, noting for each object in it which object it copies. */
  private copyNoting(value: object): object {
    const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
    for (const key of Object.keys(value)) {
      const inner = (value as Record<string, unknown>)[key];
      if (isObject(inner)) {
        const innerCopy = this.copyNoting(inner);
        this.copies.set(inner, innerCopy);
        this.originals.set(innerCopy, inner);
        (copy as Record<string, unknown>)[key] = innerCopy;
      } else (copy as Record<string, unknown>)[key] = inner;
    }
    return copy;
  }

  // One handler for every proxy (a closure per proxy would be made for each row a change reads).
  private readonly handler: ProxyHandler<object> = {
    get: (t, key) => (key === RAW ? this.rawRows(t) : this.view(Reflect.get(this.current(t), key), t, key)),
    set: (t, key, value) => {
      this.copyOwner(t);
      return Reflect.set(this.current(t), key, this.toStore(value));
    },
    deleteProperty: (t, key) => {
      this.copyOwner(t);
      return Reflect.deleteProperty(this.current(t), key);
    },
    defineProperty: (t, key, descriptor) => {
      this.copyOwner(t);
      return Reflect.defineProperty(
        this.current(t),
        key,
        'value' in descriptor ? { ...descriptor, value: this.toStore(descriptor.value) } : descriptor,
      );
    },
    has: (t, key) => Reflect.has(this.current(t), key),
    ownKeys: (t) => Reflect.ownKeys(this.current(t)),
    getOwnPropertyDescriptor: (t, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(this.current(t), key);
      // A copy's properties are reported as configurable, as the read object's are (an array's length never is).
      return descriptor && key !== 'length' ? { ...descriptor, configurable: true } : descriptor;
    },
  };

  /** The rows of collection `t` as they are now (what a write made of each), or undefined for anything else. */
  private rawRows(t: object): unknown[] | undefined {
    if (!this.collectionOf.has(t)) return undefined;
    return (this.current(t) as unknown[]).map((row) => this.resolve(row));
  }

  /** What a write stores: a proxy's target (settle() makes it the copy, if one was made). */
  private toStore(value: unknown): unknown {
    return isObject(value) ? (this.targets.get(value) ?? value) : value;
  }

  /** The proxy of an object of the read catalog, part of row `owner` (null: a row, its own owner). */
  private wrap(target: object, owner: object | null): object {
    const known = this.proxies.get(target);
    if (known) return known;
    if (owner !== null) this.owners.set(target, owner);
    const proxy = new Proxy(target, this.handler);
    this.proxies.set(target, proxy);
    this.targets.set(proxy, target);
    return proxy;
  }

  /**
   * Ends the change: the collections and settings of `next` become plain arrays of plain rows —
   * rows nothing wrote are the read catalog's own objects, shared with it and never changed.
   */
  settle(): void {
    const next = this.next as unknown as Record<string, unknown>;
    for (const name of COLLECTIONS) {
      const now = this.resolve(next[name]);
      if (now === this.data[name] && !(this.rowsCopied && (now as object[]).some((row) => this.copies.has(row))))
        continue;
      // A read row where it was is kept as it is; plain() gives back any other read row unchanged too.
      const before = this.data[name] as unknown[];
      next[name] = (now as unknown[]).map((row, i) => {
        const resolved = this.resolve(row);
        return resolved === before[i] ? resolved : this.plain(resolved);
      });
    }
    this.next.settings = this.plain(this.next.settings) as CatalogData['settings'];
  }

  /** `value` with the proxies and copied objects in it replaced by what they stand for now (rebuilt only where one was). */
  private plain(value: unknown): unknown {
    const now = this.resolve(value);
    if (!isObject(now) || this.owners.has(now) || this.proxies.has(now)) return now;
    const keys = Object.keys(now);
    let out: Record<string, unknown> | null = null;
    for (const [k, key] of keys.entries()) {
      const inner = (now as Record<string, unknown>)[key];
      const plain = this.plain(inner);
      if (plain !== inner && out === null) {
        out = (Array.isArray(now) ? [] : {}) as Record<string, unknown>;
        for (const before of keys.slice(0, k)) out[before] = (now as Record<string, unknown>)[before];
      }
      if (out !== null) out[key] = plain;
    }
    return out ?? now;
  }

  /**
   * What changed from the read catalog to `next` (after settle(), and anything done to `next`
   * itself since): rows that are other objects are put, keys that are gone are dropped. Null when
   * it cannot be told as a delta (a collection reordered, a key twice): write it whole.
   */
  delta(): Delta | null {
    const delta: Delta = { put: {}, drop: {} };
    for (const name of COLLECTIONS) {
      const before = this.data[name] as unknown as Row[];
      const rows = this.next[name] as unknown as Row[];
      if (rows === before) continue;
      const found = inPlace(before, rows, KEYS[name]) ?? byKey(before, rows, KEYS[name]);
      if (found === null) return null;
      if (found.put.length) delta.put[name] = found.put;
      if (found.drop.length) delta.drop[name] = found.drop;
    }
    if (this.next.settings !== this.data.settings) delta.settings = this.next.settings;
    return delta;
  }
}

type Found = { put: Row[]; drop: string[] } | null;

/**
 * The common cases in one walk, without indexing 10,000 keys: the rows that stay in their order
 * (the same object, or a new one of the same key), some gone (dropped), or else new rows at the
 * end. Undefined when it is not that.
 */
function inPlace(before: Row[], rows: Row[], key: string): Found | undefined {
  const put: Row[] = [];
  const drop: string[] = [];
  let at = 0;
  for (const was of before) {
    const row = rows[at];
    if (row === was) at += 1;
    else if (row !== undefined && row[key] === was[key]) {
      put.push(row);
      at += 1;
    } else drop.push(was[key] as string);
  }
  const added = rows.slice(at);
  if (!added.length) return { put, drop };
  if (drop.length) return undefined;
  const keys = new Set(added.map((row) => row[key] as string));
  if (keys.size !== added.length || before.some((row) => keys.has(row[key] as string))) return undefined;
  return { put: put.concat(added), drop: [] };
}

/** Any change by keys: rows put where their key was or appended, keys dropped; null for a reorder or a key twice. */
function byKey(before: Row[], rows: Row[], key: string): Found {
  const position = new Map<string, number>();
  before.forEach((row, i) => position.set(row[key] as string, i));
  const seen = new Set<string>();
  const put: Row[] = [];
  let last = -1;
  let appended = false;
  for (const row of rows) {
    const id = row[key] as string;
    if (seen.has(id)) return null;
    seen.add(id);
    const at = position.get(id);
    if (at === undefined) appended = true;
    else if (at < last || appended) return null;
    else last = at;
    if (at === undefined || before[at] !== row) put.push(row);
  }
  return { put, drop: before.map((row) => row[key] as string).filter((id) => !seen.has(id)) };
}

/**
 * A plain copy of a row (or anything JSON) that a change got from the catalog: what it returns
 * must not be the catalog's own objects, nor proxies of them (structuredClone cannot copy those).
 */
export function plainCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
