// The catalog: a JSON file under the qrv home, read through lowdb with an adapter that validates
// on load, and changed only inside `update`, which holds the lock, reads the newest file,
// applies the change and writes it back atomically — only over the version it read. A file
// that does not validate is refused and left exactly as it is. The home and the file are
// checked first (home.ts, private-files.ts): a root qrv runs the hooks its catalog names.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import {
  identityNow,
  readPrivateVersion,
  removeLeftTemporaries,
  sameIdentity,
  writeFileAtomic,
  type FileIdentity,
} from './atomic-json-file.ts';
import {
  appendLine,
  applyDeltas,
  checkedRow,
  deltaLine,
  fitsJournal,
  journalHeader,
  journalLines,
  parseDelta,
} from './journal.ts';
import { COLLECTIONS, emptyDelta, Tracker, type Collection, type Delta } from './tracked.ts';
import { prepareHome } from './home.ts';
import { takeFinished } from './compact.ts';
import { History } from './history.ts';
import { withLock } from './lock.ts';
import { baseText, corrupt, parseBase } from './catalog-text.ts';
import { catalogSchema, emptyCatalog, settingsSchema, type CatalogData } from './schema.ts';

/** What a process knows of the catalog's files: the catalog they make, and which versions it came from. */
interface Loaded {
  /** the catalog as this process has it: shared with what read() returned, never changed (an update makes a new one) */
  data: CatalogData;
  base: FileIdentity;
  /** the journal the base names (null: the base is the whole catalog) */
  journalId: string | null;
  /** the journal's version, how many of its lines are in `data` and the byte they end at */
  journal: { identity: FileIdentity; lines: number; end: number } | null;
}

/**
 * catalog.json and the journal it may name, read without trusting names (private files, no link
 * followed), kept in memory while they do not change: a command reads the catalog at every step
 * of its job, and a read of unchanged files is an fstat of each, not a parse.
 */
class CatalogFiles implements Adapter<CatalogData> {
  readonly journalFile: string;
  private known: Loaded | null = null;

  constructor(readonly file: string) {
    this.journalFile = path.join(path.dirname(file), 'catalog.journal');
  }

  private async readText(file: string, known: FileIdentity | null): ReturnType<typeof readPrivateVersion> {
    try {
      return await readPrivateVersion(file, known);
    } catch (error) {
      if (error instanceof QrvError) throw error;
      throw new QrvError(
        'catalog',
        'catalog-unreadable',
        `cannot read catalog ${file}: ${(error as Error).message}`,
        'check the permissions of the qrv home (--home, QRV_HOME)',
      );
    }
  }

  /** The newest catalog (null: no file yet) and which versions of the files it came from. */
  async load(): Promise<Loaded | null> {
    for (let attempt = 0; ; attempt += 1) {
      // What was known when the read began: a write beside this read (writeBase, append) clears
      // this.known meanwhile, while the file read can still be the version known.
      const known = this.known;
      const base = await this.readText(this.file, known?.base ?? null);
      if (base === null) {
        this.known = null;
        return null;
      }
      const state: Loaded =
        base.text === null && known
          ? known
          : { ...parseBase(base.text as string, this.file), base: base.identity, journal: null };
      if (state.journalId === null) return (this.known = state);
      const journal = await this.readText(this.journalFile, state.journal?.identity ?? null);
      if (journal !== null && journal.text === null) return (this.known = state);
      const lines = journal === null ? null : journalLines(journal.text as string, state.journalId);
      const fresh = state.journal === null;
      if (
        lines === null ||
        (!fresh && (state.journal?.identity.ino !== journal?.identity.ino || (state.journal?.end ?? 0) > lines.end))
      ) {
        // No journal of this base (yet, or any more): unless the base was replaced meanwhile (a
        // compaction: read both again), the base alone is the catalog; what was applied from a
        // journal that is now another file is read again from the base.
        if (attempt < 8 && !sameIdentity(await identityNow(this.file), base.identity)) continue;
        if (!fresh) {
          this.known = null;
          continue;
        }
        return (this.known = state);
      }
      const from = fresh ? 0 : (state.journal?.lines ?? 0);
      // (on new arrays: what an earlier read returned stays as it was)
      if (!fresh) state.data = copyCollections(state.data);
      applyDeltas(
        state.data,
        lines.lines.slice(from).map((line, i) => {
          try {
            return parseDelta(line, `line ${from + i + 2}`);
          } catch (error) {
            throw corrupt(this.journalFile, (error as Error).message);
          }
        }),
      );
      state.journal = {
        identity: (journal as { identity: FileIdentity }).identity,
        lines: lines.lines.length,
        end: lines.end,
      };
      return (this.known = state);
    }
  }

  async read(): Promise<CatalogData | null> {
    return (await this.load())?.data ?? null;
  }

  /** lowdb's write: the whole catalog as a new base (Catalog.update is what qrv itself uses). */
  async write(data: CatalogData): Promise<void> {
    await this.writeBase(data, this.known?.base ?? null, async () => {});
  }

  /**
   * Writes `data` whole as a new base, over the version `basedOn` only. A large base names a new
   * journal (the next change starts it); a journal left by an earlier base is then ignored.
   */
  async writeBase(
    data: CatalogData,
    basedOn: FileIdentity | null | undefined,
    stillHeld: () => Promise<void>,
  ): Promise<void> {
    const { text, journalId } = baseText(data);
    this.known = null;
    const identity = await writeFileAtomic(this.file, text, { basedOn, beforeRename: stillHeld });
    this.known = { data, base: identity, journalId, journal: null };
    if (journalId === null) await fs.rm(this.journalFile, { force: true });
  }

  /** Appends a change to the journal of the base in memory (starting the journal if it has none yet). */
  async append(known: Loaded, data: CatalogData, line: string, stillHeld: () => Promise<void>): Promise<void> {
    const id = known.journalId as string;
    this.known = null;
    let identity: FileIdentity;
    let end: number;
    if (known.journal === null) {
      const text = journalHeader(id) + line;
      identity = await writeFileAtomic(this.journalFile, text, { beforeRename: stillHeld });
      end = Buffer.byteLength(text);
    } else {
      await stillHeld();
      identity = await appendLine(this.journalFile, known.journal.identity.ino, known.journal.end, line);
      end = known.journal.end + Buffer.byteLength(line);
    }
    this.known = { ...known, data, journal: { identity, lines: (known.journal?.lines ?? 0) + 1, end } };
  }
}

export class Catalog {
  readonly file: string;
  private readonly files: CatalogFiles;
  readonly history: History;
  private readonly db: Low<CatalogData>;

  private constructor(readonly home: string) {
    this.file = path.join(home, 'catalog.json');
    this.files = new CatalogFiles(this.file);
    this.db = new Low(this.files, emptyCatalog());
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

  /**
   * The newest validated contents (no lock needed: writes are atomic renames and appends). Not a
   * copy: the catalog this process holds, which updates never change (they make a new one);
   * read it, do not change it.
   */
  async read(): Promise<CatalogData> {
    this.db.data = emptyCatalog();
    await this.db.read();
    return this.db.data;
  }

  /**
   * Applies one change under the lock to the newest contents and writes it, only if the files
   * are still the versions the change was made from and the lock is still ours: the rows it
   * changed as one journal line, or the whole catalog when it is small (or the journal is full).
   */
  async update<T>(change: (data: CatalogData) => T | Promise<T>): Promise<T> {
    return withLock(this.home, async (stillHeld) => {
      await removeLeftTemporaries(this.file);
      await removeLeftTemporaries(this.files.journalFile);
      const known = await this.files.load();
      // The change works on a copy-on-write draft of this process's catalog: if it throws, or
      // leaves rows the schema refuses, neither the files nor what read() returns has seen any of it.
      const tracker = new Tracker(known?.data ?? emptyCatalog());
      const result = await change(tracker.draft);
      tracker.settle();
      const next = tracker.next;
      // Finished rows go to the history store first, then leave the catalog with this write: a
      // kill in between leaves them in both places, and readers meet each id once (catalog wins).
      const finished = takeFinished(next);
      const delta = checkedDelta(next, tracker.delta());
      if (finished.length) {
        await this.history.append(finished);
        await failpoint('after-history-append');
      }
      await this.commit(known, next, delta, stillHeld);
      this.db.data = next;
      return result;
    });
  }

  private async commit(
    known: Loaded | null,
    data: CatalogData,
    delta: Delta | null,
    stillHeld: () => Promise<void>,
  ): Promise<void> {
    if (known && known.journalId !== null && delta !== null) {
      if (emptyDelta(delta)) return;
      const line = deltaLine(delta);
      if (fitsJournal(Buffer.byteLength(line), Number(known.base.size), known.journal?.end ?? 0)) {
        await failpoint('catalog-write');
        await this.files.append(known, data, line, stillHeld);
        return;
      }
    }
    await failpoint('catalog-write');
    // What is written whole is what the schema makes of it: what a read of it gives back.
    await this.files.writeBase(
      delta === null ? (catalogSchema.parse(data) as CatalogData) : data,
      known?.base ?? null,
      stillHeld,
    );
  }
}

/** A catalog whose collections are new arrays of the same rows. */
function copyCollections(data: CatalogData): CatalogData {
  const copy = { ...data } as unknown as Record<string, unknown[]>;
  for (const name of COLLECTIONS) copy[name] = [...(data[name] as unknown[])];
  return copy as unknown as CatalogData;
}

/**
 * The rows a change put, checked against the schema and replaced in `data` by what the schema
 * makes of them; a change that is not a delta is checked whole by the write.
 */
function checkedDelta(data: CatalogData, delta: Delta | null): Delta | null {
  if (delta === null) return null;
  for (const name of Object.keys(delta.put) as Collection[]) {
    const put = delta.put[name] as Record<string, unknown>[];
    const checked = new Map(put.map((row) => [row, checkedRow(name, row, 'the change')]));
    const rows = data[name] as unknown as Record<string, unknown>[];
    rows.forEach((row, i) => {
      const now = checked.get(row);
      if (now) rows[i] = now;
    });
    delta.put[name] = [...checked.values()];
  }
  if (delta.settings) data.settings = delta.settings = settingsSchema.parse(delta.settings);
  return delta;
}

/**
 * The catalog of `home` read without creating or locking anything (null when there is none),
 * after the same checks of the home and the files as every other command: what qrv check uses.
 */
export async function readCatalogOnly(home: string): Promise<{ file: string; data: CatalogData | null }> {
  const file = path.join(await prepareHome(home, false), 'catalog.json');
  return { file, data: await new CatalogFiles(file).read() };
}
