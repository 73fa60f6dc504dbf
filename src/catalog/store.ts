// The catalog: a JSON file under the qrv home, read through lowdb with an adapter that validates
// on load and writes atomically, and changed only inside `update`, which holds the lock, reads
// the newest file, applies the change and writes it back. A file that does not validate is
// refused and left exactly as it is.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { AtomicTextFile } from './atomic-json-file.ts';
import { takeFinished } from './compact.ts';
import { History } from './history.ts';
import { withLock } from './lock.ts';
import { catalogSchema, emptyCatalog, READABLE_VERSIONS, SCHEMA_VERSION, type CatalogData } from './schema.ts';

/** Parses and validates catalog text; throws a QrvError that names the file and the fault. */
export function parseCatalog(text: string, file: string): CatalogData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `it is not valid JSON (${(error as Error).message})`);
  }
  const version = raw && typeof raw === 'object' ? (raw as { schemaVersion?: unknown }).schemaVersion : undefined;
  if (typeof version === 'number' && version > SCHEMA_VERSION) {
    throw new QrvError(
      'catalog',
      'catalog-newer',
      `catalog ${file} was written by a newer qrv (schema ${version}; this qrv reads ${SCHEMA_VERSION})`,
      'upgrade qrv on this host; the catalog was left untouched',
    );
  }
  // Older versions gain the newer fields' defaults as they are parsed, then carry today's number.
  const upgraded = typeof version === 'number' && version < SCHEMA_VERSION && READABLE_VERSIONS.includes(version) ? { ...(raw as object), schemaVersion: SCHEMA_VERSION } : raw;
  const result = catalogSchema.safeParse(upgraded);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? issue.path.join('.') || '(top level)' : '(unknown)';
    throw corrupt(file, `${where}: ${issue?.message ?? 'does not match the schema'}`);
  }
  if (upgraded !== raw && version === 1) {
    // Version 1 had no sub-clients: every volume it knew joins the default one, as a new one would.
    const byDefault = result.data.subclients.find((s) => s.name === 'default');
    if (byDefault) for (const volume of result.data.volumes) if (!byDefault.volumes.includes(volume.name)) byDefault.volumes.push(volume.name);
  }
  return result.data;
}

function corrupt(file: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'catalog-corrupt',
    `catalog ${file} is corrupt: ${why}`,
    'qrv left it untouched; restore it from a backup or move it aside to start a new catalog',
  );
}

class CatalogAdapter implements Adapter<CatalogData> {
  private readonly text: AtomicTextFile;

  constructor(readonly file: string) {
    this.text = new AtomicTextFile(file);
  }

  async read(): Promise<CatalogData | null> {
    let text: string | null;
    try {
      text = await this.text.read();
    } catch (error) {
      throw new QrvError('catalog', 'catalog-unreadable', `cannot read catalog ${this.file}: ${(error as Error).message}`, 'check the permissions of the qrv home (--home, QRV_HOME)');
    }
    return text === null ? null : parseCatalog(text, this.file);
  }

  async write(data: CatalogData): Promise<void> {
    await this.text.write(`${JSON.stringify(data, null, 2)}\n`);
  }
}

/** A file's identity: every write is a rename of a new file, so an unchanged identity is unchanged contents. */
async function identity(file: string): Promise<string | null> {
  try {
    const stat = await fs.stat(file, { bigint: true });
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export class Catalog {
  readonly file: string;
  readonly history: History;
  private readonly db: Low<CatalogData>;
  /** the identity of the file this.db.data was read from or written as (null: not known) */
  private known: string | null = null;

  private constructor(readonly home: string) {
    this.file = path.join(home, 'catalog.json');
    this.db = new Low(new CatalogAdapter(this.file), emptyCatalog());
    this.history = new History(home);
  }

  /** Opens (creating the home folder, mode 0700, on first use) without writing anything. */
  static async open(home: string): Promise<Catalog> {
    try {
      await fs.mkdir(home, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new QrvError('catalog', 'home-unusable', `cannot create the qrv home ${home}: ${(error as Error).message}`, 'pass --home DIR or set QRV_HOME to a folder you can write');
    }
    const catalog = new Catalog(home);
    await catalog.read();
    return catalog;
  }

  /** The newest validated contents (no lock needed: writes are atomic renames). */
  async read(): Promise<CatalogData> {
    this.known = null;
    this.db.data = emptyCatalog();
    const before = await identity(this.file);
    await this.db.read();
    if (before !== null && before === (await identity(this.file))) this.known = before;
    return this.db.data;
  }

  /** Applies one change under the lock to the newest contents and writes it atomically. */
  async update<T>(change: (data: CatalogData) => T | Promise<T>): Promise<T> {
    return withLock(this.home, async () => {
      // What this process read or wrote last is used again when the file is still that one.
      if (this.known === null || this.known !== (await identity(this.file))) await this.read();
      // The change works on a copy: if it throws, or leaves rows the schema refuses, neither the
      // file nor what read() returns has seen any of it.
      const draft = structuredClone(this.db.data);
      const result = await change(draft);
      catalogSchema.parse(draft);
      // Finished rows go to the history store first, then leave the catalog with this write: a
      // kill in between leaves them in both places, and readers meet each id once (catalog wins).
      const finished = takeFinished(draft);
      if (finished.length) {
        await this.history.append(finished);
        await failpoint('after-history-append');
      }
      this.known = null;
      this.db.data = draft;
      await this.db.write();
      this.known = await identity(this.file);
      return result;
    });
  }
}
