// `qrv history [--volume V] [--since T] [--kind K] [--limit N]`: what is finished, newest first —
// finished jobs and removed snapshots still in the catalog, then the history store (streamed,
// newest month first, each id once: a row in both places is the catalog's). Also the history
// lookups that `show` and `list --all` use, and the retention that `qrv prune` applies.
import type { CatalogData, Job, Snapshot } from '../catalog/schema.ts';
import { HISTORY_KINDS, type HistoryKind, type HistoryRecord } from '../catalog/history.ts';
import { parseDuration } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { parseTime } from '../core/time.ts';
import type { Context } from '../engine/context.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { compareText } from '../core/text.ts';

const JOB_KINDS: readonly Job['kind'][] = ['snap', 'copy', 'unsnap', 'run', 'recover', 'promote', 'archive'];
const DEFAULT_LIMIT = 1000;

export interface HistoryRequest {
  volume?: string;
  /** a duration back from now ("1d") or a time */
  since?: string;
  /** a record kind (job, snapshot, qrv-update, prune) or a job kind (snap, copy, ...) */
  kind?: string;
  limit?: number;
}

/** "1d" means one day ago; anything else is a time as --as-of takes it. */
export function sinceTime(text: string, now: Date): Date {
  const ms = /^\d/.test(text.trim()) ? safeDuration(text) : null;
  return ms !== null ? new Date(now.getTime() - ms) : parseTime(text, now, '--since');
}

function safeDuration(text: string): number | null {
  try {
    return parseDuration(text.trim(), '--since');
  } catch {
    return null;
  }
}

/** The catalog's own finished rows as history records (they are not in the store yet, or are in both). */
export function catalogRecords(data: CatalogData): HistoryRecord[] {
  return [
    ...data.jobs
      .filter((j) => j.state !== 'running')
      .map((j): HistoryRecord => ({ id: j.id, at: j.endedAt ?? j.startedAt, kind: 'job', volume: j.volume, row: j })),
    ...data.snapshots
      .filter((s) => s.state === 'removed')
      .map(
        (s): HistoryRecord => ({
          id: s.id,
          at: s.removedAt ?? s.createdAt,
          kind: 'snapshot',
          volume: s.volume,
          row: s,
        }),
      ),
  ];
}

/** Every id the catalog holds (a history record with one of them is older than the catalog's row). */
export function catalogIds(data: CatalogData): Set<string> {
  return new Set([...data.jobs.map((j) => j.id), ...data.snapshots.map((s) => s.id)]);
}

/** Removed snapshots from the history store that `keep` accepts, none that the catalog holds. */
export async function historicSnapshots(
  ctx: Context,
  data: CatalogData,
  keep: (s: Snapshot) => boolean,
): Promise<Snapshot[]> {
  const found: Snapshot[] = [];
  await ctx.catalog.history.scan({ kinds: ['snapshot'], skip: catalogIds(data) }, (record) => {
    const row = record.row as Snapshot;
    if (keep(row)) found.push(row);
  });
  return found;
}

function line(r: HistoryRecord): string {
  const row = r.row as Record<string, unknown>;
  const what =
    r.kind === 'job'
      ? `${String(row.kind)} ${String(row.state)}${row.error ? `: ${(row.error as { message: string }).message}` : ''}`
      : r.kind === 'snapshot'
        ? `snapshot removed (made ${String(row.createdAt)})`
        : r.kind === 'qrv-update'
          ? `QRV ${String(row.qrvId)} updated from ${String(row.snapshotId)} (${String(row.method)})`
          : `prune: ${String(row.removed ?? 0)} removed, ${String(row.failed ?? 0)} failed`;
  return `${r.at}  ${r.kind.padEnd(10)} ${r.id.padEnd(12)} ${r.volume.padEnd(12)} ${what}`;
}

/** The record kind and job kind --kind names (either or neither), or a usage error; --limit checked too. */
function checkRequest(request: HistoryRequest): { recordKind: HistoryKind | null; jobKind: string | null } {
  const kind = request.kind;
  const recordKind = kind && (HISTORY_KINDS as readonly string[]).includes(kind) ? (kind as HistoryKind) : null;
  const jobKind = kind && (JOB_KINDS as readonly string[]).includes(kind) ? kind : null;
  if (kind && !recordKind && !jobKind)
    throw new QrvError(
      'usage',
      'bad-kind',
      `--kind "${kind}" is not a kind of history`,
      `use one of: ${[...HISTORY_KINDS, ...JOB_KINDS].join(', ')}`,
    );
  if (request.limit !== undefined && (!Number.isInteger(request.limit) || request.limit < 1))
    throw new QrvError(
      'usage',
      'bad-limit',
      `--limit ${request.limit} is not a positive whole number`,
      'e.g. --limit 100',
    );
  return { recordKind, jobKind: jobKind || null };
}

export async function history(ctx: Context, request: HistoryRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  if (request.volume) findVolume(data, request.volume);
  const { recordKind, jobKind } = checkRequest(request);
  const since = request.since ? sinceTime(request.since, ctx.now()).toISOString() : undefined;
  const limit = request.limit ?? (since ? Number.POSITIVE_INFINITY : DEFAULT_LIMIT);
  const kinds: HistoryKind[] = recordKind ? [recordKind] : jobKind ? ['job'] : [...HISTORY_KINDS];
  const wanted = (r: HistoryRecord) =>
    kinds.includes(r.kind) &&
    (!request.volume || r.volume === request.volume) &&
    (!since || r.at >= since) &&
    (!jobKind || (r.row as Job).kind === jobKind);

  // Newest first, at most `limit`: a month's matches are trimmed as they come, so memory stays
  // bounded by the limit (and by what --since lets through), never by the store's size.
  let found = catalogRecords(data).filter(wanted);
  const byNewest = (a: HistoryRecord, b: HistoryRecord) => compareText(b.at, a.at) || compareText(b.id, a.id);
  const trim = () => {
    found.sort(byNewest);
    if (found.length > limit) found = found.slice(0, limit);
  };
  let month: string | null = null;
  await ctx.catalog.history.scan(
    {
      kinds,
      skip: catalogIds(data),
      ...(since ? { since } : {}),
      ...(request.volume ? { volume: request.volume } : {}),
    },
    (record) => {
      const m = record.at.slice(0, 7);
      if (month !== m) {
        trim();
        // every record of an older month is older than what fills the limit already
        if (month !== null && found.length >= limit && (found.at(-1) as HistoryRecord).at.slice(0, 7) > m) return false;
        month = m;
      }
      if (!wanted(record)) return;
      found.push(record);
      if (found.length >= 2 * limit) trim();
    },
  );
  trim();
  const more = found.length >= limit && !since && request.limit === undefined;
  return {
    data: { records: found },
    lines: found.length
      ? [...found.map(line), ...(more ? [`(the newest ${limit}; older ones: --since or --limit)`] : [])]
      : ['no history'],
  };
}

/** Drops the history months that fell out of the retention setting; returns the dropped files. */
export async function applyRetention(ctx: Context, retention: string): Promise<string[]> {
  const keep = parseDuration(retention, 'history retention');
  if (keep === null) return [];
  return ctx.catalog.history.dropBefore(new Date(ctx.now().getTime() - keep).toISOString());
}
