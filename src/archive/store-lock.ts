// Locks inside an archive store, so that several hosts and processes can share one store while
// `qrv prune` removes what no generation references (restic's lock files are the prior art).
//
// A lock is an object `locks/<id>` (16 random hex digits) holding JSON: {kind, host, pid, user,
// pidNamespace, startTime, createdAt, refreshedAt, command}. Writing a generation, reading one or
// checking one takes a `shared` lock; shared locks coexist. Removing data takes an `exclusive`
// lock, which conflicts with every other live lock.
//
// Stores have no compare-and-swap, so a lock is taken by writing it first and looking second:
// put our own lock, then list every lock; if a conflicting live one is there, remove ours and fail
// (`store-locked`, naming the holder). Of two processes racing, the one whose put lands second
// sees the first in its listing, so at most one wins (both may fail: run again). That holds when
// a listing shows every put that returned before it began, which is true of a folder on a local
// filesystem, SFTP on one, and S3 (read-after-write consistent since 2020). For stores whose
// listings lag (NFS attribute caching, some S3-compatible servers), an exclusive lock lists once
// more after `settleMs` (1 s) and fails if a conflicting lock has appeared: a concurrent writer
// whose lock became visible within that time is caught. What remains open: a store whose listing
// shows another host's put later than `settleMs` after it returned; a lock removed by hand
// (`qrv store unlock`) while its holder lives; and a holder whose refresh fails or stops for
// longer than staleAfterMs (a suspended machine), whom others then take for gone. That holder
// finds out at its next check(), refresh() or release() (`store-lock-lost`) and must not trust
// what it did since; the refresh checks that its lock still exists before rewriting it (a remove
// that lands between that look and the rewrite is undone by the rewrite).
//
// A lock no longer counts (is stale) when its refreshedAt is older than staleAfterMs (30 min;
// holders refresh every 5 min), or when it was written on this host, in this pid namespace, by a
// process that is gone (kill(pid, 0) says ESRCH, or the pid now belongs to a process that started
// at another time). Clocks of hosts sharing a store must agree to within a few minutes. A lock
// object qrv cannot read (not JSON, fields missing) is reported; it counts as a live conflict for
// an exclusive lock (the safe side) and is passed over by a shared one. Stale and unreadable locks
// are never removed by taking a lock: removeStaleLocks() and removeStoreLock() do that, for
// `qrv store unlock`.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatSeconds } from '../core/duration.ts';
import { QrvError, isQrvError } from '../core/errors.ts';
import type { ArchiveStore, StoreObject } from '../stores/store.ts';
import { type StoreLockKind, type StoreLockRecord, thisProcess, parseLockRecord, staleBecause } from './lock-record.ts';
import { compareText } from '../core/text.ts';

export { parseLockRecord, staleBecause, type StoreLockKind, type StoreLockRecord } from './lock-record.ts';

export const LOCKS = 'locks/';
export const STALE_AFTER_MS = 30 * 60_000;
export const REFRESH_EVERY_MS = 5 * 60_000;
export const SETTLE_MS = 1000;
/** A lock is a few hundred bytes; anything much larger is not one, and is not read. */
const MAX_LOCK_BYTES = 64 * 1024;

export interface StoreLockEntry {
  key: string;
  id: string;
  /** the lock, or null when the object is not a lock qrv can read */
  record: StoreLockRecord | null;
  /** why the object is not a lock qrv can read, or null */
  malformed: string | null;
  /** why the lock no longer counts, or null while it is live (always null for a malformed one) */
  stale: string | null;
}

export interface StoreLockClock {
  now?: () => Date;
  staleAfterMs?: number;
}

export interface AcquireOptions extends StoreLockClock {
  command: string;
  /** exclusive locks: how long to wait before listing again (default 1 s) */
  settleMs?: number;
  /** how often the handle refreshes itself (default 5 min); null: only when refresh() is called */
  refreshEveryMs?: number | null;
  /** the store's name in the catalog, for the hint (`qrv store unlock NAME`) */
  storeName?: string;
}

export interface StoreLockHandle {
  readonly id: string;
  readonly key: string;
  readonly kind: StoreLockKind;
  /** the lock as last written */
  readonly record: StoreLockRecord;
  /** stale and unreadable locks of others that did not stand in the way when it was taken, to report */
  readonly ignored: StoreLockEntry[];
  /** rewrites refreshedAt; fails (and is remembered as failed) when the lock was lost */
  refresh(): Promise<void>;
  /** throws the refresh failure, if any, or `store-lock-lost` when the last refresh is too old */
  check(): void;
  /** stops refreshing and removes the lock; then throws the refresh failure, if there was one */
  release(): Promise<void>;
}

async function readEntry(
  store: ArchiveStore,
  object: StoreObject,
  now: Date,
  staleAfterMs: number,
): Promise<StoreLockEntry | null> {
  const entry = { key: object.key, id: object.key.slice(LOCKS.length), record: null, malformed: null, stale: null };
  if (object.size > MAX_LOCK_BYTES) return { ...entry, malformed: `it is ${object.size} bytes, not a lock` };
  let data: Buffer;
  try {
    data = await store.get(object.key, MAX_LOCK_BYTES);
  } catch (error) {
    if (isQrvError(error) && error.code === 'store-object-missing') return null; // released meanwhile
    if (isQrvError(error) && error.code === 'store-object-large') return { ...entry, malformed: 'it grew past a lock' };
    throw error;
  }
  const record = parseLockRecord(data);
  if (typeof record === 'string') return { ...entry, malformed: record };
  return { ...entry, record, stale: staleBecause(record, now, staleAfterMs) };
}

/** Every lock in the store, live, stale or unreadable, oldest first. */
export async function listStoreLocks(store: ArchiveStore, options: StoreLockClock = {}): Promise<StoreLockEntry[]> {
  const now = (options.now ?? (() => new Date()))();
  const staleAfterMs = options.staleAfterMs ?? STALE_AFTER_MS;
  const objects = await store.list(LOCKS);
  const read = await Promise.all(objects.map((object) => readEntry(store, object, now, staleAfterMs)));
  const entries = read.filter((entry): entry is StoreLockEntry => entry !== null);
  const created = (e: StoreLockEntry): string => (e.record ? new Date(e.record.createdAt).toISOString() : '');
  return entries.sort((a, b) => compareText(created(a), created(b)) || compareText(a.key, b.key));
}

/** Removes the stale locks (never a live or an unreadable one); returns those it removed. */
export async function removeStaleLocks(store: ArchiveStore, options: StoreLockClock = {}): Promise<StoreLockEntry[]> {
  const stale = (await listStoreLocks(store, options)).filter((entry) => entry.stale !== null);
  for (const entry of stale) await store.remove(entry.key);
  return stale;
}

/** Removes the lock `id`, whatever it is (`qrv store unlock` of one the admin knows to be gone). */
export async function removeStoreLock(store: ArchiveStore, id: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id) || id.includes('.tmp-'))
    throw new QrvError(
      'usage',
      'usage',
      `${JSON.stringify(id)} is not a lock id`,
      'give an id `qrv store unlock` listed',
    );
  await store.remove(`${LOCKS}${id}`);
}

/** "a shared lock of `archive web` (pid 123 on web1 as root, taken 3m05s ago, refreshed 12s ago)" */
export function describeLock(entry: StoreLockEntry, now: Date): string {
  const r = entry.record;
  if (!r) return `${entry.key}, which is not a lock qrv can read (${entry.malformed ?? 'unknown'})`;
  const ago = (at: string): string => formatSeconds(Math.max(0, now.getTime() - Date.parse(at)) / 1000);
  const user = r.user ? ` as ${r.user}` : '';
  const times = `taken ${ago(r.createdAt)} ago, refreshed ${ago(r.refreshedAt)} ago`;
  return `${r.kind === 'shared' ? 'a shared' : 'an exclusive'} lock of \`qrv ${r.command}\` (pid ${r.pid} on ${r.host}${user}, ${times})`;
}

function conflicting(entries: StoreLockEntry[], own: string, kind: StoreLockKind): StoreLockEntry[] {
  return entries.filter((e) => {
    if (e.key === own || e.stale !== null) return false;
    return kind === 'exclusive' || e.record?.kind === 'exclusive';
  });
}

function lockedError(
  store: ArchiveStore,
  kind: StoreLockKind,
  found: StoreLockEntry[],
  options: AcquireOptions & { at: Date },
): QrvError {
  const [first] = found as [StoreLockEntry];
  const more = found.length > 1 ? ` and ${found.length - 1} more` : '';
  const name = options.storeName ?? store.where;
  return new QrvError(
    'busy',
    'store-locked',
    `cannot take ${kind === 'shared' ? 'a shared' : 'an exclusive'} lock on the archive store ${store.where} for \`qrv ${options.command}\`: ${describeLock(first, options.at)}${more} holds it`,
    `wait for it to finish and run the command again, or, if that process is gone, run \`qrv store unlock ${name}\``,
  );
}

function lockLost(store: ArchiveStore, kind: StoreLockKind, why: string): QrvError {
  return new QrvError(
    'busy',
    'store-lock-lost',
    `the ${kind} lock on the archive store ${store.where} was lost: ${why}`,
    'another qrv may have pruned the store meanwhile: run the command again (qrv verify checks what was written)',
  );
}

/** Lists the locks and throws `store-locked` if one stands in the way; returns the ones passed over. */
async function lookForConflicts(
  store: ArchiveStore,
  own: StoreLockRecord & { key: string },
  options: AcquireOptions,
): Promise<StoreLockEntry[]> {
  const at = (options.now ?? (() => new Date()))();
  const entries = await listStoreLocks(store, { ...options, now: () => at });
  const found = conflicting(entries, own.key, own.kind);
  if (found.length > 0) throw lockedError(store, own.kind, found, { ...options, at });
  return entries.filter((e) => e.key !== own.key && (e.stale !== null || e.record === null));
}

const encode = (record: StoreLockRecord): Buffer => Buffer.from(`${JSON.stringify(record)}\n`);

/** Takes a lock on the store (see the file's header), or fails with `store-locked` leaving nothing behind. */
export async function acquireStoreLock(
  store: ArchiveStore,
  kind: StoreLockKind,
  options: AcquireOptions,
): Promise<StoreLockHandle> {
  const now = options.now ?? (() => new Date());
  const id = randomBytes(8).toString('hex');
  const key = `${LOCKS}${id}`;
  const createdAt = now().toISOString();
  const record: StoreLockRecord = {
    kind,
    ...thisProcess(),
    createdAt,
    refreshedAt: createdAt,
    command: options.command,
  };
  await store.put(key, encode(record));
  let ignored: StoreLockEntry[];
  try {
    ignored = await lookForConflicts(store, { ...record, key }, options);
    if (kind === 'exclusive') {
      await sleep(options.settleMs ?? SETTLE_MS);
      ignored = await lookForConflicts(store, { ...record, key }, options);
    }
  } catch (error) {
    await store.remove(key).catch(() => undefined);
    throw error;
  }
  return new HeldLock(store, { id, key, record, ignored }, options);
}

class HeldLock implements StoreLockHandle {
  readonly id: string;
  readonly key: string;
  readonly kind: StoreLockKind;
  readonly ignored: StoreLockEntry[];
  record: StoreLockRecord;
  private readonly now: () => Date;
  private readonly staleAfterMs: number;
  private lastRefresh: number;
  private failure: Error | null = null;
  private released = false;
  private refreshing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: ArchiveStore,
    held: { id: string; key: string; record: StoreLockRecord; ignored: StoreLockEntry[] },
    options: AcquireOptions,
  ) {
    this.id = held.id;
    this.key = held.key;
    this.kind = held.record.kind;
    this.record = held.record;
    this.ignored = held.ignored;
    this.now = options.now ?? (() => new Date());
    this.staleAfterMs = options.staleAfterMs ?? STALE_AFTER_MS;
    this.lastRefresh = Date.parse(held.record.refreshedAt);
    const every = options.refreshEveryMs === undefined ? REFRESH_EVERY_MS : options.refreshEveryMs;
    if (every !== null) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  refresh(): Promise<void> {
    if (this.released)
      return Promise.reject(new QrvError('bug', 'internal', `refresh of the released lock ${this.key}`));
    const run = this.refreshing.then(() => this.rewrite());
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  private async rewrite(): Promise<void> {
    if (this.failure) throw this.failure;
    try {
      const at = this.now();
      this.checkInTime(at);
      if ((await this.store.size(this.key)) === null) throw lockLost(this.store, this.kind, `${this.key} was removed`);
      const record = { ...this.record, refreshedAt: at.toISOString() };
      await this.store.put(this.key, encode(record));
      this.record = record;
      this.lastRefresh = at.getTime();
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      if (this.timer) clearInterval(this.timer);
      throw this.failure;
    }
  }

  private checkInTime(at: Date): void {
    const since = at.getTime() - this.lastRefresh;
    if (since > this.staleAfterMs)
      throw lockLost(
        this.store,
        this.kind,
        `it was last refreshed ${formatSeconds(since / 1000)} ago, and others take a lock not refreshed for ${formatSeconds(this.staleAfterMs / 1000)} for gone`,
      );
  }

  check(): void {
    if (this.failure) throw this.failure;
    try {
      this.checkInTime(this.now());
    } catch (error) {
      this.failure = error as Error;
      throw error;
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.refreshing;
    const removed = await this.store.remove(this.key).then(
      () => null,
      (error: unknown) => error,
    );
    if (this.failure) throw this.failure;
    if (removed !== null) throw removed;
  }
}
