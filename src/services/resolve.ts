// `qrv resolve <volume|subclient> --as-of <time>` (F10): which copy holds a volume's state as it
// was at a point in time, and why every other copy was passed over. `resolveAt` is pure (catalog
// data and a time); `qrv ls`/`qrv find --volume V --as-of T` use it to pick what they read.
//
// A snapshot stands for its createdAt; a QRV for the createdAt of the snapshot it reflects (taken
// from the snapshot row even when that snapshot was removed since). The answer is the newest point
// in time at or before T among the usable copies; at the same point in time a snapshot wins over a
// QRV (it is exact and nothing has to be attached). A crash-torn copy (written to while it was
// copied, kept with --allow-inconsistent) comes last: a consistent copy is preferred even when it is
// older, and a crash-torn one is chosen only when nothing else holds the volume (issue 18). An
// archive generation (F15) stands for the point in time it was sent with; it is chosen when no
// snapshot or QRV holds as late a state (at the same point in time a local copy wins: nothing has
// to be fetched).
import type { CatalogData, Qrv, Snapshot } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { parseTime } from '../core/time.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { table } from '../output/rows.ts';
import { compareText } from '../core/text.ts';

export type CopyKind = 'snapshot' | 'qrv' | 'archive';

export interface ChosenCopy {
  id: string;
  kind: CopyKind;
  /** ISO time of the state the copy holds */
  pointInTime: string;
  /** how that point in time was obtained (a QRV: the snapshot it reflects); null when unknown */
  consistency: string | null;
}

export interface PassedOver {
  id: string;
  kind: CopyKind;
  /** one of the reasons below, with its details: "too new (…)", "removed at …", "failed", … */
  reason: string;
  /** the state the copy holds, when known */
  pointInTime: string | null;
}

export interface Resolution {
  volume: string;
  /** the time asked for, ISO */
  asOf: string;
  chosen: ChosenCopy | null;
  passedOver: PassedOver[];
}

const short = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

interface Usable extends ChosenCopy {
  rank: number;
}

/** Judges every snapshot and QRV of `volume` as of `at`; pure. With `only`, copies of the other kind are passed over. */
export function resolveAt(data: CatalogData, volume: string, at: Date, only?: CopyKind): Resolution {
  const t = at.getTime();
  const passedOver: PassedOver[] = [];
  const usable = [
    ...snapshotsAt(data, volume, t, passedOver),
    ...qrvsAt(data, volume, t, passedOver),
    ...archivesAt(data, volume, t, passedOver),
  ];
  const name = only === 'qrv' ? 'QRV' : only === 'archive' ? 'archive generation' : 'snapshot';
  const fits = (u: Usable) => !only || u.kind === only;
  for (const other of usable.filter((u) => !fits(u)))
    passedOver.push({
      id: other.id,
      kind: other.kind,
      reason: `not a ${name} (only a ${name} will do here)`,
      pointInTime: other.pointInTime,
    });
  const candidates = usable.filter(fits);
  // Consistent before crash-torn; then newest point in time first; at the same time a snapshot
  // before a QRV; then by id, for a stable answer.
  candidates.sort(
    (a, b) =>
      Number(torn(a)) - Number(torn(b)) ||
      Date.parse(b.pointInTime) - Date.parse(a.pointInTime) ||
      b.rank - a.rank ||
      compareText(a.id, b.id),
  );
  const [best, ...rest] = candidates;
  const chosen = best
    ? { id: best.id, kind: best.kind, pointInTime: best.pointInTime, consistency: best.consistency }
    : null;
  for (const other of rest)
    passedOver.push({
      id: other.id,
      kind: other.kind,
      reason: notChosen(data, other, chosen),
      pointInTime: other.pointInTime,
    });
  passedOver.sort(
    (a, b) =>
      (b.pointInTime ? Date.parse(b.pointInTime) : 0) - (a.pointInTime ? Date.parse(a.pointInTime) : 0) ||
      compareText(a.kind, b.kind) * -1 ||
      compareText(a.id, b.id),
  );
  return { volume, asOf: at.toISOString(), chosen, passedOver };
}

/** The usable snapshots of `volume` at `t`; the others are passed over with why. */
function snapshotsAt(data: CatalogData, volume: string, t: number, passedOver: PassedOver[]): Usable[] {
  const usable: Usable[] = [];
  for (const s of data.snapshots.filter((row) => row.volume === volume)) {
    const pass = (reason: string) => passedOver.push({ id: s.id, kind: 'snapshot', reason, pointInTime: s.createdAt });
    if (Date.parse(s.createdAt) > t) pass(`too new (taken ${short(s.createdAt)})`);
    else if (s.state === 'failed') pass('failed (invalid: never finished, or its copy-on-write store overflowed)');
    else if (s.state === 'removed' || s.removedAt !== null)
      pass(`removed at ${s.removedAt ? short(s.removedAt) : 'an unknown time'}`);
    else if (s.state !== 'ready') pass(`not ready (${s.state})`);
    else usable.push({ id: s.id, kind: 'snapshot', pointInTime: s.createdAt, consistency: s.consistency, rank: 1 });
  }
  return usable;
}

/** The usable QRVs of `volume` at `t` (each at its snapshot's point in time); the others are passed over with why. */
function qrvsAt(data: CatalogData, volume: string, t: number, passedOver: PassedOver[]): Usable[] {
  const usable: Usable[] = [];
  const byId = new Map(data.snapshots.map((s) => [s.id, s] as const));
  for (const q of data.qrvs.filter((row) => row.volume === volume)) {
    const reflects: Snapshot | undefined = byId.get(q.snapshotId);
    const pointInTime = reflects?.createdAt ?? null;
    const pass = (reason: string) => passedOver.push({ id: q.id, kind: 'qrv', reason, pointInTime });
    if (q.state !== 'ready') pass(`not ready (${q.state})`);
    else if (q.lastVerify && !q.lastVerify.ok)
      pass(`failed verify at ${short(q.lastVerify.at)} (${q.lastVerify.badBlocks} bad blocks)`);
    else if (pointInTime === null)
      pass(`point in time unknown (it reflects ${q.snapshotId}, which is not in the catalog)`);
    else if (Date.parse(pointInTime) > t) pass(`too new (reflects ${q.snapshotId} of ${short(pointInTime)})`);
    else usable.push({ id: q.id, kind: 'qrv', pointInTime, consistency: reflects?.consistency ?? null, rank: 0 });
  }
  return usable;
}

/** Why a usable copy was not the one chosen. */
function notChosen(data: CatalogData, other: Usable, chosen: ChosenCopy | null): string {
  if (torn(other) && chosen && !torn(chosen))
    return `crash-torn (written to while it was copied: no single point in time), and ${chosen.id} is consistent`;
  if (other.pointInTime === chosen?.pointInTime)
    return `same point in time as ${chosen.id}, which is ${chosen.kind === 'snapshot' ? 'a snapshot (exact, nothing to attach)' : chosen.kind === 'qrv' && other.kind === 'archive' ? 'a QRV (on this host, nothing to fetch)' : 'first by id'}`;
  return `older than the chosen one (${other.kind === 'qrv' ? `reflects ${pointOf(data, other.id)} of ` : 'taken '}${short(other.pointInTime)})`;
}

const torn = (copy: { consistency: string | null }) => copy.consistency === 'crash-torn';

/** The usable archive generations of `volume` at `t`; the others are passed over with why. */
function archivesAt(data: CatalogData, volume: string, t: number, passedOver: PassedOver[]): Usable[] {
  const usable: Usable[] = [];
  for (const a of data.archives.filter((row) => row.volume === volume)) {
    const pass = (reason: string) => passedOver.push({ id: a.id, kind: 'archive', reason, pointInTime: a.pointInTime });
    if (Date.parse(a.pointInTime) > t) pass(`too new (holds ${a.snapshotId} of ${short(a.pointInTime)})`);
    else if (a.state !== 'ready')
      pass(
        a.state === 'removed'
          ? `removed at ${a.removedAt ? short(a.removedAt) : 'an unknown time'}`
          : `not ready (${a.state})`,
      );
    else if (a.lastVerify && !a.lastVerify.ok)
      pass(`failed verify at ${short(a.lastVerify.at)} (${a.lastVerify.badBlocks} bad chunks)`);
    else usable.push({ id: a.id, kind: 'archive', pointInTime: a.pointInTime, consistency: a.consistency, rank: -1 });
  }
  return usable;
}

/** How a chosen copy is named in a sentence. */
function kindText(chosen: ChosenCopy): string {
  if (chosen.kind === 'snapshot') return 'a snapshot taken';
  if (chosen.kind === 'qrv') return 'a QRV holding the state of';
  return 'an archive generation (no snapshot or QRV on this host holds as late a state) holding the state of';
}

/** " (crash-torn …)" after a chosen copy that is one, else nothing. */
function tornNote(chosen: ChosenCopy): string {
  return torn(chosen)
    ? ' (crash-torn: written to while it was copied, no single point in time; nothing consistent holds this time)'
    : '';
}

function pointOf(data: CatalogData, qrvId: string): string {
  return data.qrvs.find((q: Qrv) => q.id === qrvId)?.snapshotId ?? '?';
}

/** The id `resolveAt` chooses for `volume` at the --as-of `time`, or the nothing-at-time error. */
export function chooseAt(
  data: CatalogData,
  volume: string,
  time: string,
  now: Date,
  only?: CopyKind,
): Resolution & { chosen: ChosenCopy } {
  const resolution = resolveAt(data, volume, parseTime(time, now, '--as-of'), only);
  if (!resolution.chosen) throw nothingAtTime(resolution);
  return resolution as Resolution & { chosen: ChosenCopy };
}

/** One line saying which copy --as-of chose. */
export function choseLine(resolution: Resolution & { chosen: ChosenCopy }): string {
  return `${resolution.volume} as of ${short(resolution.asOf)}: ${resolution.chosen.id}, ${kindText(resolution.chosen)} ${short(resolution.chosen.pointInTime)}${tornNote(resolution.chosen)}`;
}

/** The one-line error for a volume with nothing usable as of the time asked for. */
export function nothingAtTime(resolution: Resolution): QrvError {
  const reasons = resolution.passedOver.slice(0, 3).map((p) => `${p.id} ${p.reason}`);
  const more = resolution.passedOver.length > 3 ? `, and ${resolution.passedOver.length - 3} more` : '';
  const why = reasons.length ? `: ${reasons.join('; ')}${more}` : ': it has no snapshots or QRVs';
  return new QrvError(
    'notFound',
    'nothing-at-time',
    `no snapshot or QRV holds ${resolution.volume} as of ${short(resolution.asOf)}${why}`,
    `choose a later time, or see every copy with \`qrv list --volume ${resolution.volume} --all\``,
  );
}

/** The volumes `target` names: a volume, or the volumes of a sub-client. */
export function volumesOf(data: CatalogData, target: string): { volumes: string[]; subclient: string | null } {
  if (data.volumes.some((v) => v.name === target)) return { volumes: [target], subclient: null };
  const subclient = data.subclients.find((s) => s.name === target);
  if (subclient) return { volumes: [...subclient.volumes], subclient: subclient.name };
  const known = [...data.volumes.map((v) => v.name), ...data.subclients.map((s) => s.name)];
  throw new QrvError(
    'notFound',
    'unknown-volume',
    `no volume or sub-client named "${target}"`,
    known.length ? `known: ${known.join(', ')}` : 'add one with `qrv volume add NAME --path IMAGE`',
  );
}

export function resolutionLines(r: Resolution): string[] {
  const head = r.chosen
    ? `${r.volume} as of ${short(r.asOf)}: ${r.chosen.id}, ${kindText(r.chosen)} ${short(r.chosen.pointInTime)}${tornNote(r.chosen)}`
    : `${r.volume} as of ${short(r.asOf)}: nothing`;
  if (!r.passedOver.length) return [head];
  return [
    head,
    'passed over:',
    ...table(
      ['  ID', 'KIND', 'REASON'],
      r.passedOver.map((p) => [`  ${p.id}`, p.kind, p.reason]),
    ).slice(1),
  ];
}

export interface ResolveRequest {
  target: string;
  asOf: string;
}

export async function resolve(ctx: Context, request: ResolveRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const at = parseTime(request.asOf, ctx.now(), '--as-of');
  const { volumes, subclient } = volumesOf(data, request.target);
  if (subclient !== null && volumes.length === 0) {
    throw new QrvError(
      'refused',
      'subclient-empty',
      `sub-client ${subclient} has no volumes`,
      `add one with \`qrv subclient set ${subclient} --add VOLUME\``,
    );
  }
  const answers = volumes.map((volume) => resolveAt(data, volume, at));
  if (answers.every((a) => a.chosen === null)) {
    if (answers.length === 1) throw nothingAtTime(answers[0] as Resolution);
    throw new QrvError(
      'notFound',
      'nothing-at-time',
      `no snapshot or QRV holds any volume of ${subclient} as of ${short(at.toISOString())}`,
      `choose a later time, or see every copy with \`qrv list --subclient ${subclient} --all\``,
    );
  }
  const lines = answers.flatMap((a, i) => (i ? ['', ...resolutionLines(a)] : resolutionLines(a)));
  if (subclient === null) return { data: { ...(answers[0] as Resolution) }, lines };
  const missing = answers.filter((a) => a.chosen === null).map((a) => a.volume);
  return {
    data: { subclient, asOf: at.toISOString(), volumes: answers },
    lines,
    ...(missing.length ? { exit: 'partial' as const } : {}),
  };
}
