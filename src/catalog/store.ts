// The catalog: a JSON file under the qrv home, read through lowdb with an adapter that validates
// on load, and changed only inside `update`, which holds the lock, reads the newest file,
// applies the change and writes it back atomically — only over the version it read. A file
// that does not validate is refused and left exactly as it is. The home and the file are
// checked first (home.ts, private-files.ts): a root qrv runs the hooks its catalog names.
import path from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { readPrivateText, readPrivateVersion, removeLeftTemporaries, writeFileAtomic, type FileIdentity } from './atomic-json-file.ts';
import { prepareHome } from './home.ts';
import { takeFinished } from './compact.ts';
import { History } from './history.ts';
import { withLock } from './lock.ts';
import { catalogSchema, emptyCatalog, READABLE_VERSIONS, SCHEMA_VERSION, type CatalogData } from './schema.ts';

/** Parses and validates catalog text; throws a QrvError that names the file and the fault. */
export function parseCatalog(text: string, file: string): CatalogData {
  if (text.charCodeAt(0) === 0xfeff) throw corrupt(file, 'it starts with a byte order mark (U+FEFF, a UTF-8 BOM), which JSON does not allow');
  const nul = text.indexOf('\0');
  if (nul >= 0) throw corrupt(file, `it holds NUL bytes, the first at byte ${Buffer.byteLength(text.slice(0, nul))} (part of it was zeroed, e.g. by a crash of the filesystem)`);
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

/**
 * The text of a message made printable on one line: control characters (C0, DEL, C1), line and
 * paragraph separators, bidirectional and other invisible format characters become \xNN or
 * \uNNNN, and a long text is cut (JSON.parse quotes the file around the fault).
 */
export function printable(text: string, max = 240): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

function corrupt(file: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'catalog-corrupt',
    `catalog ${file} is corrupt: ${printable(why)}`,
    'qrv left it untouched; restore it from a backup or move it aside to start a new catalog',
  );
}

class CatalogAdapter implements Adapter<CatalogData> {
  /**
   * The version of the file this process last read or wrote, as the JSON of its validated
   * contents: while the file is still that version (fstat: inode, size, mtime, ctime; every
   * writer renames a new inode over it), a read is one JSON.parse of this, not a read, parse and
   * validation of the file again (a command reads the catalog at every step of its job).
   */
  private known: { identity: FileIdentity; json: string } | null = null;

  constructor(readonly file: string) {}

  /** The validated contents and which version of the file they came from (null: no file yet). */
  async readVersion(): Promise<{ data: CatalogData | null; identity: FileIdentity | null }> {
    let read: Awaited<ReturnType<typeof readPrivateVersion>>;
    try {
      read = await readPrivateVersion(this.file, this.known?.identity ?? null);
    } catch (error) {
      if (error instanceof QrvError) throw error;
      throw new QrvError('catalog', 'catalog-unreadable', `cannot read catalog ${this.file}: ${(error as Error).message}`, 'check the permissions of the qrv home (--home, QRV_HOME)');
    }
    if (read === null) return { data: null, identity: null };
    if (read.text === null && this.known) return { data: JSON.parse(this.known.json) as CatalogData, identity: read.identity };
    const data = parseCatalog(read.text as string, this.file);
    this.known = { identity: read.identity, json: JSON.stringify(data) };
    return { data, identity: read.identity };
  }

  async read(): Promise<CatalogData | null> {
    return (await this.readVersion()).data;
  }

  /** Writes over the version `basedOn` only (refused if the file is another one now). */
  async write(data: CatalogData, basedOn?: FileIdentity | null, beforeRename?: () => Promise<void>): Promise<void> {
    const text = `${JSON.stringify(data, null, 2)}\n`;
    this.known = null;
    this.known = { identity: await writeFileAtomic(this.file, text, { basedOn, beforeRename }), json: text };
  }
}

export class Catalog {
  readonly file: string;
  private readonly adapter: CatalogAdapter;
  readonly history: History;
  private readonly db: Low<CatalogData>;

  private constructor(readonly home: string) {
    this.file = path.join(home, 'catalog.json');
    this.adapter = new CatalogAdapter(this.file);
    this.db = new Low(this.adapter, emptyCatalog());
    this.history = new History(home);
  }

  /**
   * Opens without writing anything: checks the home and its parents (creating the home,
   * mode 0700, on first use) and reads the catalog. `home` becomes the home's real path.
   */
  static async open(home: string): Promise<Catalog> {
    const catalog = new Catalog(await prepareHome(home, true));
    await catalog.read();
    return catalog;
  }

  /** The newest validated contents (no lock needed: writes are atomic renames). */
  async read(): Promise<CatalogData> {
    this.db.data = emptyCatalog();
    await this.db.read();
    return this.db.data;
  }

  /**
   * Applies one change under the lock to the newest contents and writes it atomically, only
   * if the file is still the version the change was made from and the lock is still ours.
   */
  async update<T>(change: (data: CatalogData) => T | Promise<T>): Promise<T> {
    return withLock(this.home, async (stillHeld) => {
      await removeLeftTemporaries(this.file);
      const current = await this.adapter.readVersion();
      // The change works on a copy: if it throws, or leaves rows the schema refuses, neither the
      // file nor what read() returns has seen any of it.
      const draft = current.data ?? emptyCatalog();
      const result = await change(draft);
      // What is written is what the schema makes of the draft: what a read of it gives back.
      const checked = catalogSchema.parse(draft) as CatalogData;
      // Finished rows go to the history store first, then leave the catalog with this write: a
      // kill in between leaves them in both places, and readers meet each id once (catalog wins).
      const finished = takeFinished(checked);
      if (finished.length) {
        await this.history.append(finished);
        await failpoint('after-history-append');
      }
      await failpoint('catalog-write');
      await this.adapter.write(checked, current.identity, stillHeld);
      this.db.data = checked;
      return result;
    });
  }
}

/**
 * The catalog of `home` read without creating or locking anything (null when there is none),
 * after the same checks of the home and the file as every other command: what qrv check uses.
 */
export async function readCatalogOnly(home: string): Promise<{ file: string; data: CatalogData | null }> {
  const file = path.join(await prepareHome(home, false), 'catalog.json');
  const read = await readPrivateText(file);
  return { file, data: read === null ? null : parseCatalog(read.text, file) };
}
