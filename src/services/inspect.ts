// `qrv list`, `qrv show ID` and `qrv set ID`: reading and changing the properties of rows (F8).
import { plainCopy } from '../catalog/tracked.ts';
import type { ArchiveRow, Job, Qrv, Snapshot } from '../catalog/schema.ts';
import { persistUntil, parseTime } from '../core/time.ts';
import { findSubclient } from '../policy/resolve.ts';
import { QrvError } from '../core/errors.ts';
import { idKind } from '../core/ids.ts';
import type { Context } from '../engine/context.ts';
import { processGone } from '../engine/job-recorder.ts';
import { findArchive, findJob, findQrv, findSnapshot, findVolume } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { archiveTable, details, jobLines, objectLines, qrvTable, snapshotTable } from '../output/rows.ts';
import { heldObject } from './resolve-object.ts';
import { historicSnapshots } from './history.ts';
import { withJournal } from '../catalog/step-journal.ts';
import { compareText } from '../core/text.ts';

/** Whether a snapshot or QRV row records application object `id` (a QRV: of the snapshot it reflects now). */
const holdsObject = (row: Snapshot | Qrv, id: string) => heldObject({ objects: row.objects ?? [] }, id) !== undefined;

export interface ListRequest {
  volume?: string;
  subclient?: string;
  state?: string;
  label?: string;
  /** what existed at this time (ISO, or "2h ago") */
  asOf?: string;
  all: boolean;
  /** more columns: consistency, quiesce, freeze window, group, objects */
  long?: boolean;
  /** only the snapshots and QRVs that hold this application object ("postgresql:main/billing") */
  object?: string;
}

/** Whether `qrv list` shows an archive generation (F15); the section appears once a catalog has any. */
function listedArchive(a: ArchiveRow, request: ListRequest, at: number | null): boolean {
  // A generation records no application objects: --object lists none.
  if (request.label || request.object !== undefined || (request.state && a.state !== request.state)) return false;
  if (at !== null) return Date.parse(a.createdAt) <= at && (a.removedAt === null || Date.parse(a.removedAt) > at);
  return request.all || request.state === 'removed' || a.state !== 'removed';
}

export async function list(ctx: Context, request: ListRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  if (request.volume) findVolume(data, request.volume);
  const states = ['creating', 'ready', 'removing', 'removed', 'failed', 'copying', 'promoted'];
  if (request.state && !states.includes(request.state))
    throw new QrvError(
      'usage',
      'bad-state',
      `--state "${request.state}" is not a state`,
      `use one of: ${states.join(', ')}`,
    );
  // the writers are loaded only when an object is named: `qrv list` stays a light start
  if (request.object !== undefined) (await import('../writers/registry.ts')).parseObjectId(request.object);
  const object = request.object;
  const members = request.subclient ? new Set(findSubclient(data, request.subclient).volumes) : null;
  const at = request.asOf ? parseTime(request.asOf, ctx.now(), '--as-of').getTime() : null;
  const ofVolume = <T extends { volume: string }>(row: T) =>
    (!request.volume || row.volume === request.volume) && (!members || members.has(row.volume));
  const wanted = (s: Snapshot) =>
    ofVolume(s) &&
    (!request.state || s.state === request.state) &&
    (!request.label || s.label === request.label) &&
    (object === undefined || holdsObject(s, object)) &&
    (at === null
      ? request.all || request.state === 'removed' || s.state !== 'removed'
      : s.state !== 'failed' &&
        Date.parse(s.createdAt) <= at &&
        (s.removedAt === null || Date.parse(s.removedAt) > at));
  const snapshots = data.snapshots.filter(wanted);
  // Removed snapshots mostly live in the history store: read it only when they are asked for.
  if (request.all || request.state === 'removed' || at !== null) {
    const older = await historicSnapshots(ctx, data, wanted);
    snapshots.push(...older);
    snapshots.sort((a, b) => compareText(a.createdAt, b.createdAt));
  }
  const qrvs = data.qrvs.filter(
    (q) =>
      ofVolume(q) &&
      !request.label &&
      (object === undefined || holdsObject(q, object)) &&
      (!request.state || q.state === request.state) &&
      (at === null
        ? request.all || request.state === 'removed' || q.state !== 'removed'
        : Date.parse(q.createdAt) <= at && (q.state !== 'removed' || Date.parse(q.updatedAt) > at)),
  );
  const archives = data.archives.filter((a) => ofVolume(a) && listedArchive(a, request, at));
  const withArchives = data.archives.length > 0;
  return {
    data: { snapshots, qrvs, ...(withArchives ? { archives } : {}) },
    // Made when a printer asks (the plain one): `list --json` of 10,000 snapshots need not lay out their table.
    get lines() {
      return [
        ...(snapshots.length ? snapshotTable(snapshots, request.long ?? false) : ['no snapshots']),
        '',
        ...(qrvs.length ? qrvTable(qrvs, request.long ?? false) : ['no QRVs']),
        ...(withArchives ? ['', ...(archives.length ? archiveTable(archives) : ['no archive generations'])] : []),
      ];
    },
  };
}

/** A snapshot's or QRV's fields, its application objects last, one a line each (not as JSON). */
function rowLines(row: Snapshot | Qrv): string[] {
  const { objects, ...rest } = row;
  return [...details(rest), ...objectLines(objects ?? [])];
}

export async function show(ctx: Context, id: string): Promise<Summary> {
  const data = await ctx.catalog.read();
  switch (idKind(id)) {
    case 's': {
      const snapshot =
        (data.snapshots.some((s) => s.id === id)
          ? null
          : ((await ctx.catalog.history.find(id, ['snapshot']))?.row as Snapshot | undefined)) ??
        findSnapshot(data, id);
      return { data: { snapshot }, lines: rowLines(snapshot) };
    }
    case 'q': {
      const qrv = findQrv(data, id);
      return { data: { qrv }, lines: rowLines(qrv) };
    }
    case 'a': {
      const archive = findArchive(data, id);
      return { data: { archive }, lines: details(archive) };
    }
    case 'j': {
      const found =
        (data.jobs.some((j) => j.id === id)
          ? null
          : ((await ctx.catalog.history.find(id, ['job']))?.row as Job | undefined)) ?? findJob(data, id);
      const job = await withJournal(ctx.catalog.home, found);
      // A job killed before it could end itself still reads `running`; say so, and what mends it.
      const dead = processGone(job);
      const note = dead
        ? [
            `(process ${job.pid} is gone: the job was killed; \`qrv doctor\` says what it left, \`qrv doctor --fix\` ends it${job.progress ? ' or resumes its copy' : ''})`,
          ]
        : [];
      return { data: { job, processGone: dead }, lines: [...jobLines(job), ...note] };
    }
    default:
      throw new QrvError(
        'notFound',
        'unknown-id',
        `"${id}" is not a snapshot, QRV, archive generation or job id`,
        'ids look like s-1a2b3c4d5e6f (snapshot), q-… (QRV), a-… (archive generation) or j-… (job); see `qrv list`',
      );
  }
}

export interface SetRequest {
  snapshotId: string;
  /** a duration from now, an ISO time, or "forever" */
  persist?: string;
  label?: string;
  pin?: boolean;
}

export async function setProperties(ctx: Context, request: SetRequest): Promise<Summary> {
  if (request.persist === undefined && request.label === undefined && request.pin === undefined) {
    throw new QrvError('usage', 'nothing-to-set', 'nothing to change', 'give --persist, --label, --pin or --unpin');
  }
  const snapshot = await ctx.catalog.update((data): Snapshot => {
    const row = findSnapshot(data, request.snapshotId);
    if (row.state === 'removed')
      throw new QrvError(
        'refused',
        'snapshot-removed',
        `snapshot ${row.id} was removed`,
        'only existing snapshots can be changed',
      );
    if (request.persist !== undefined) row.persistUntil = persistUntil(request.persist, ctx.now());
    if (request.label !== undefined) row.label = request.label === '' ? null : request.label;
    if (request.pin !== undefined) row.pinned = request.pin;
    return plainCopy(row);
  });
  return { data: { snapshot }, lines: rowLines(snapshot) };
}
