// The catalog journal: how a large catalog changes without being rewritten. catalog.json is the
// base; once it is large (BASE_JOURNALED bytes and more) it names a journal by a random id, and
// each change after that is one line appended to catalog.journal and fsynced — the rows it put and
// the keys it dropped (tracked.ts) — so a command's catalog work is bounded by what it changed,
// not by how many snapshots exist. A reader applies the journal's lines to the base in order.
//
// - The journal's first line names the base it belongs to ({"journal":"<id>"}). A journal of
//   another id (left by a compaction killed before it replaced the journal, or beside a
//   catalog.json restored from a backup) is ignored: the base alone is the catalog.
// - A line counts once it ends in a newline; a torn last line (a writer killed mid-append, never
//   acknowledged) is ignored, and cut off by the next writer under the lock.
// - Rows in the journal are schema-checked on load like the base's (and, like the base, a line
//   whose digest matches is what a checking qrv wrote: not checked again).
// - When the journal has grown past JOURNAL_COMPACT bytes and the base's size (or a change is
//   not a delta, or is larger than JOURNAL_LINE_WHOLE and a quarter of the base), the
//   whole catalog is written as a new base with a new id, atomically; then a new journal.
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { xxh64 } from '../core/xxh64.ts';
import { identityOf, openPrivate, type FileIdentity } from './atomic-json-file.ts';
import {
  snapshotSchema,
  volumeSchema,
  qrvSchema,
  jobSchema,
  policySchema,
  subclientSchema,
  poolSchema,
  settingsSchema,
  type CatalogData,
} from './schema.ts';
import { KEYS, type Collection, type Delta } from './tracked.ts';
import type * as z from 'zod/mini';

/** A base of this many bytes and more is changed through the journal; a smaller one is rewritten whole. */
export const BASE_JOURNALED = 256 * 1024;
/** A journal past this many bytes, or past the base's size, is folded into a new base by the next change. */
export const JOURNAL_COMPACT = 1024 * 1024;
/** A change this large, and larger than a quarter of the base, is written as a new base: as cheap, and the journal stays short. */
export const JOURNAL_LINE_WHOLE = 64 * 1024;

/** Whether a change of `line` bytes goes to the journal (else: a new base), given the base's size and the journal's. */
export function fitsJournal(line: number, baseBytes: number, journalBytes: number): boolean {
  return (
    line <= Math.max(JOURNAL_LINE_WHOLE, baseBytes / 4) && journalBytes + line <= Math.max(JOURNAL_COMPACT, baseBytes)
  );
}

const ROW_SCHEMAS: Record<Collection, z.ZodMiniType> = {
  volumes: volumeSchema,
  snapshots: snapshotSchema,
  qrvs: qrvSchema,
  jobs: jobSchema,
  policies: policySchema,
  subclients: subclientSchema,
  pools: poolSchema,
};

export function newJournalId(): string {
  return randomBytes(8).toString('hex');
}

export function journalHeader(id: string): string {
  return `${JSON.stringify({ journal: id })}\n`;
}

/** The xxh64 of a text, as 16 hex digits. */
function digestOf(text: string): string {
  return xxh64(text).toString(16).padStart(16, '0');
}

const SEAL = /,"digest":"xxh64:([0-9a-f]{16})"\}\n?$/;

/**
 * A JSON object's text sealed with the digest of everything before the seal, as a last key:
 * `{…,"digest":"xxh64:<16 hex>"}`. A base and each journal line are sealed so.
 */
export function sealed(json: string): string {
  const text = json.slice(0, -1);
  return `${text},"digest":"xxh64:${digestOf(text)}"}`;
}

/** Whether `text` is sealed and byte for byte what was sealed (a trailing newline allowed). */
export function sealIntact(text: string): boolean {
  // (matched on the tail only: a base is megabytes)
  const tail = text.slice(-64);
  const seal = SEAL.exec(tail);
  return seal !== null && digestOf(text.slice(0, text.length - tail.length + seal.index)) === seal[1];
}

/** A change as its journal line: the delta, sealed. */
export function deltaLine(delta: Delta): string {
  return `${sealed(JSON.stringify({ put: delta.put, drop: delta.drop, ...(delta.settings ? { settings: delta.settings } : {}) }))}\n`;
}

/** A row checked against its collection's schema; what the schema makes of it (defaults filled in). */
export function checkedRow(name: Collection, row: unknown, where: string): Record<string, unknown> {
  const result = ROW_SCHEMAS[name].safeParse(row);
  if (!result.success) {
    const issue = result.error.issues[0];
    const id = row && typeof row === 'object' ? (row as Record<string, unknown>)[KEYS[name]] : undefined;
    throw new Error(
      `${where}: ${name} row ${typeof id === 'string' ? id : '(no key)'}: ${issue?.path.join('.') || '(the row)'}: ${issue?.message ?? 'does not match the schema'}`,
    );
  }
  return result.data as Record<string, unknown>;
}

/**
 * Checks one journal line's delta and returns it with its rows as the schema makes them; a line
 * that is byte for byte what a checking qrv wrote (its digest matches) is not checked again.
 */
export function parseDelta(text: string, where: string): Delta {
  const raw = JSON.parse(text) as {
    put?: Record<string, unknown[]>;
    drop?: Record<string, unknown[]>;
    settings?: unknown;
    digest?: unknown;
  };
  if (!raw || typeof raw !== 'object') throw new Error(`${where}: not an object`);
  if (sealIntact(text)) {
    delete raw.digest;
    return raw as Delta;
  }
  const delta: Delta = { put: {}, drop: {} };
  for (const [name, rows] of Object.entries(raw.put ?? {})) {
    if (!(name in KEYS) || !Array.isArray(rows)) throw new Error(`${where}: put.${name} is not a collection of rows`);
    delta.put[name as Collection] = rows.map((row) => checkedRow(name as Collection, row, where));
  }
  for (const [name, keys] of Object.entries(raw.drop ?? {})) {
    if (!(name in KEYS) || !Array.isArray(keys) || keys.some((k) => typeof k !== 'string'))
      throw new Error(`${where}: drop.${name} is not a list of keys`);
    delta.drop[name as Collection] = keys as string[];
  }
  if (raw.settings !== undefined) {
    const settings = settingsSchema.safeParse(raw.settings);
    if (!settings.success)
      throw new Error(`${where}: settings: ${settings.error.issues[0]?.message ?? 'do not match the schema'}`);
    delta.settings = settings.data;
  }
  return delta;
}

/**
 * Applies deltas to `data` in place, in order: a put replaces the row of its key where it is, or
 * is appended; a drop removes it. (Each collection's keys are indexed once, not once per line.)
 */
export function applyDeltas(data: CatalogData, deltas: Iterable<Delta>): void {
  const index = new Map<Collection, Map<string, number>>();
  const rowsOf = (name: Collection) => data[name] as unknown as Record<string, unknown>[];
  const indexOf = (name: Collection) => {
    let at = index.get(name);
    if (!at) {
      at = new Map();
      for (const [i, row] of rowsOf(name).entries()) at.set(row[KEYS[name]] as string, i);
      index.set(name, at);
    }
    return at;
  };
  for (const delta of deltas) {
    for (const name of Object.keys(KEYS) as Collection[]) {
      const key = KEYS[name];
      const drop = delta.drop[name];
      if (drop?.length) {
        const gone = new Set(drop);
        (data as unknown as Record<string, unknown>)[name] = rowsOf(name).filter(
          (row) => !gone.has(row[key] as string),
        );
        index.delete(name);
      }
      const put = delta.put[name];
      if (!put?.length) continue;
      const rows = rowsOf(name);
      const at = indexOf(name);
      for (const row of put) {
        const i = at.get(row[key] as string);
        if (i === undefined) {
          at.set(row[key] as string, rows.length);
          rows.push(row);
        } else rows[i] = row;
      }
    }
    if (delta.settings) data.settings = delta.settings;
  }
}

/** The journal's lines after its header: the complete ones, and how many bytes they end at. */
export function journalLines(text: string, id: string): { lines: string[]; end: number } | null {
  const first = text.indexOf('\n');
  if (first < 0 || text.slice(0, first) !== journalHeader(id).trimEnd()) return null;
  const end = text.lastIndexOf('\n') + 1;
  const body = text.slice(first + 1, end);
  return { lines: body ? body.slice(0, -1).split('\n') : [], end: Buffer.byteLength(text.slice(0, end)) };
}

/**
 * Appends `line` to the journal at byte `end` (cutting off a torn tail beyond it), then fsyncs.
 * The journal must still be the file this process read (same inode): else nothing is written.
 */
export async function appendLine(file: string, ino: bigint, end: number, line: string): Promise<FileIdentity> {
  const opened = await openPrivate(file, constants.O_WRONLY);
  if (opened === null) throw new Error(`${file} was removed while this qrv held the catalog's lock`);
  const { handle, stat } = opened;
  try {
    if (stat.ino !== ino || stat.size < BigInt(end))
      throw new Error(`${file} changed while this qrv held the catalog's lock`);
    if (stat.size > BigInt(end)) await handle.truncate(end);
    const bytes = Buffer.from(line);
    let done = 0;
    while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done, end + done)).bytesWritten;
    await handle.datasync();
    return identityOf(await handle.stat({ bigint: true }));
  } finally {
    await handle.close();
  }
}
