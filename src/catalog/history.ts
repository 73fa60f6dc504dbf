// The history store: what is finished (job rows with their steps, removed snapshots, QRV update
// entries, prune results), moved out of catalog.json so that the live catalog stays as large as
// what exists. NDJSON under <home>/history/, one file per kind and month ("jobs-2026-05.ndjson"),
// appended once, fsynced, never rewritten; whole months are dropped by retention. Files are opened
// O_APPEND|O_NOFOLLOW and checked (fstat) before use; a history folder owned by another user or
// writable by others is refused. Reading streams the files (never loads one whole) and matches
// cheaply on the line's fixed prefix before parsing.
import { constants as C, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError, errnoCode } from '../core/errors.ts';
import type { Stats } from 'node:fs';
import { notPrivateBecause } from '../core/private-mode.ts';
import { compareText } from '../core/text.ts';

export type HistoryKind = 'job' | 'snapshot' | 'qrv-update' | 'prune';
export const HISTORY_KINDS: readonly HistoryKind[] = ['job', 'snapshot', 'qrv-update', 'prune'];

/** One line: the envelope's fields come first, always in this order, so a reader can match on the text. */
export interface HistoryRecord {
  id: string;
  /** when it finished (a job's end, a snapshot's removal): decides the month file */
  at: string;
  kind: HistoryKind;
  volume: string;
  row: unknown;
}

const FILE_OF: Record<HistoryKind, string> = {
  job: 'jobs',
  snapshot: 'snapshots',
  'qrv-update': 'qrv-updates',
  prune: 'prunes',
};
const NAME = /^(jobs|snapshots|qrv-updates|prunes)-(\d{4}-\d{2})\.ndjson$/;
const CHUNK = 1 << 20;

export function historyDir(home: string): string {
  return path.join(home, 'history');
}

/** The line a record is written as (one JSON object, the envelope's keys first). */
export function historyLine(record: HistoryRecord): string {
  return `${JSON.stringify({ id: record.id, at: record.at, kind: record.kind, volume: record.volume, row: record.row })}\n`;
}

function unsafe(what: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'history-unsafe',
    `refusing the history ${what}: ${why}`,
    'make it owned by the user qrv runs as and writable by that user only (chmod 700 for the folder, 600 for its files)',
  );
}

function checkOwned(stat: Stats, what: string): void {
  const why = notPrivateBecause(stat);
  if (why) throw unsafe(what, why);
}

/** The history folder, created 0700 if missing; refused when it is a link, not a folder, someone else's or writable by others. */
async function safeDir(home: string, create: boolean): Promise<string | null> {
  const dir = historyDir(home);
  if (create)
    await fs.mkdir(dir, { mode: 0o700 }).catch((error: unknown) => {
      if (errnoCode(error) !== 'EEXIST') throw error;
    });
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' && !create) return null;
    if (errnoCode(error) === 'ELOOP' || errnoCode(error) === 'ENOTDIR')
      throw unsafe(`folder ${dir}`, 'it is not a folder (a link?)');
    throw error;
  }
  try {
    checkOwned(await handle.stat(), `folder ${dir}`);
  } finally {
    await handle.close();
  }
  return dir;
}

async function openChecked(file: string, flags: number): Promise<fs.FileHandle> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, flags | C.O_NOFOLLOW, 0o600);
  } catch (error) {
    if (errnoCode(error) === 'ELOOP') throw unsafe(`file ${file}`, 'it is a symbolic link');
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw unsafe(`file ${file}`, 'it is not a regular file');
    checkOwned(stat, `file ${file}`);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Month files of the given kinds, newest month first. */
async function monthFiles(dir: string, kinds: readonly HistoryKind[]): Promise<{ file: string; month: string }[]> {
  const wanted = new Set(kinds.map((k) => FILE_OF[k]));
  const found: { file: string; month: string }[] = [];
  for (const name of await fs.readdir(dir)) {
    const match = NAME.exec(name);
    if (match && wanted.has(match[1] as string)) found.push({ file: path.join(dir, name), month: match[2] as string });
  }
  return found.sort((a, b) => compareText(b.month, a.month) || compareText(a.file, b.file));
}

/**
 * Streams the complete lines of a file; `onLine` returns false to stop. `needle`, when given,
 * skips every chunk of lines that does not contain it without making strings of them.
 */
async function scanFile(file: string, onLine: (line: string) => boolean | void, needle?: Buffer): Promise<boolean> {
  const handle = await openChecked(file, C.O_RDONLY);
  const stream = createReadStream('', { fd: handle, highWaterMark: CHUNK, autoClose: true });
  let carry: Buffer = Buffer.alloc(0);
  const lines = (block: Buffer): boolean => {
    if (needle && block.indexOf(needle) < 0) return true;
    let start = 0;
    for (let nl = block.indexOf(10, start); nl >= 0; nl = block.indexOf(10, start)) {
      if (!needle || block.subarray(start, nl).indexOf(needle) >= 0)
        if (onLine(block.toString('utf8', start, nl)) === false) return false;
      start = nl + 1;
    }
    return true;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const block = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const last = block.lastIndexOf(10);
      if (last < 0) {
        carry = block;
        continue;
      }
      carry = Buffer.from(block.subarray(last + 1));
      if (!lines(block.subarray(0, last + 1))) return false;
    }
    // A last line without its newline is a torn append (a kill mid-write): it is not a record.
    return true;
  } finally {
    stream.destroy();
  }
}

export class History {
  constructor(readonly home: string) {}

  /** Appends the records, each file once, fsynced; the folder is fsynced when a file was created. */
  async append(records: readonly HistoryRecord[]): Promise<void> {
    if (records.length === 0) return;
    const dir = (await safeDir(this.home, true)) as string;
    const byFile = new Map<string, string[]>();
    for (const record of records) {
      const name = `${FILE_OF[record.kind]}-${record.at.slice(0, 7)}.ndjson`;
      const lines = byFile.get(name);
      if (lines) lines.push(historyLine(record));
      else byFile.set(name, [historyLine(record)]);
    }
    let created = false;
    for (const [name, lines] of byFile) {
      const file = path.join(dir, name);
      const existed = await fs.lstat(file).then(
        () => true,
        () => false,
      );
      const handle = await openChecked(file, C.O_WRONLY | C.O_APPEND | C.O_CREAT);
      try {
        await handle.write(lines.join(''));
        await handle.sync();
      } finally {
        await handle.close();
      }
      created ||= !existed;
    }
    if (created) {
      const handle = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /** The newest record with this id (newest month first), or null. */
  async find(id: string, kinds: readonly HistoryKind[] = HISTORY_KINDS): Promise<HistoryRecord | null> {
    const dir = await safeDir(this.home, false);
    if (!dir) return null;
    const prefix = `{"id":${JSON.stringify(id)},`;
    const needle = Buffer.from(prefix);
    for (const { file } of await monthFiles(dir, kinds)) {
      let found: HistoryRecord | null = null;
      await scanFile(
        file,
        (line) => {
          if (!line.startsWith(prefix)) return true;
          found = JSON.parse(line) as HistoryRecord; // the last one in the file is the newest
          return true;
        },
        needle,
      );
      if (found) return found;
    }
    return null;
  }

  /**
   * Streams records newest month first (within a month, in the order they were written), each id
   * once (a record appended twice by a retried move is met once), skipping ids in `skip`.
   * `since` (ISO) skips older months unread and older lines unparsed.
   */
  async scan(
    options: { kinds?: readonly HistoryKind[]; since?: string; skip?: ReadonlySet<string>; volume?: string },
    onRecord: (record: HistoryRecord) => boolean | void,
  ): Promise<void> {
    const dir = await safeDir(this.home, false);
    if (!dir) return;
    const seen = new Set<string>();
    const since = options.since;
    const sinceMonth = since?.slice(0, 7);
    const volumeText = options.volume === undefined ? null : `"volume":${JSON.stringify(options.volume)},`;
    for (const { file, month } of await monthFiles(dir, options.kinds ?? HISTORY_KINDS)) {
      if (sinceMonth && month < sinceMonth) continue;
      const go = await scanFile(file, (line) => {
        // {"id":"…","at":"…" — the time is read off the text before anything is parsed
        if (since) {
          const at = line.indexOf('"at":"');
          if (at >= 0 && line.slice(at + 6, at + 6 + since.length) < since) return true;
        }
        if (volumeText && !line.includes(volumeText)) return true;
        const record = JSON.parse(line) as HistoryRecord;
        if (seen.has(record.id) || options.skip?.has(record.id)) return true;
        seen.add(record.id);
        return onRecord(record);
      });
      if (!go) return;
    }
  }

  /** Drops the month files wholly older than `cutoff` (ISO); returns their names. */
  async dropBefore(cutoff: string): Promise<string[]> {
    const dir = await safeDir(this.home, false);
    if (!dir) return [];
    const month = cutoff.slice(0, 7);
    const dropped: string[] = [];
    for (const { file, month: m } of await monthFiles(dir, HISTORY_KINDS)) {
      if (m >= month) continue;
      await fs.rm(file);
      dropped.push(path.basename(file));
    }
    return dropped;
  }
}
