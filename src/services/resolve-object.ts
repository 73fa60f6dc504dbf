// `qrv resolve WRITER:OBJECT --as-of T` (F10, F13): which copies hold an application object as
// it was at a point in time. An object lives on every volume its instance spans (a cluster's data
// folder and pg_wal may be two volumes), and only copies of one snapshot group hold it at one
// point in time: the answer is the newest group at or before T, taken while the writer held the
// object at rest, of which every volume still has a usable copy — its snapshot, or a ready QRV
// that still reflects that snapshot. Other groups are passed over with why.
import type { AppObject, CatalogData, Snapshot } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { parseTime } from '../core/time.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { short, table } from '../output/rows.ts';
import { idOf } from '../writers/writer.ts';
import { compareText } from '../core/text.ts';

export interface ObjectCopy {
  volume: string;
  /** the snapshot or QRV to read the volume from */
  id: string;
  kind: 'snapshot' | 'qrv';
  snapshotId: string;
}

export interface ObjectResolution {
  object: string;
  asOf: string;
  chosen: { groupId: string; pointInTime: string; record: AppObject; copies: ObjectCopy[] } | null;
  passedOver: { groupId: string; pointInTime: string; reason: string }[];
}

/** The object row `id` names in a snapshot row, if it holds it. */
export function heldObject(snapshot: Pick<Snapshot, 'objects'>, id: string): AppObject | undefined {
  return snapshot.objects.find((o) => idOf(o.writer, o.instance, o.name) === id);
}

/** A usable copy of `snapshot`'s volume as it was then: the snapshot itself, or a ready QRV that reflects it. */
function copyOf(data: CatalogData, snapshot: Snapshot): ObjectCopy | string {
  const base = { volume: snapshot.volume, snapshotId: snapshot.id };
  if (snapshot.state === 'ready' && snapshot.removedAt === null) return { ...base, id: snapshot.id, kind: 'snapshot' };
  const qrv = data.qrvs.find(
    (q) => q.state === 'ready' && q.snapshotId === snapshot.id && !(q.lastVerify && !q.lastVerify.ok),
  );
  if (qrv) return { ...base, id: qrv.id, kind: 'qrv' };
  return `${snapshot.volume}: snapshot ${snapshot.id} is ${snapshot.state} and no ready QRV reflects it`;
}

/** Judges every group that holds object `id` as of `at`; pure. */
export function resolveObjectAt(data: CatalogData, id: string, at: Date): ObjectResolution {
  const groups = new Map<string, Snapshot[]>();
  for (const s of data.snapshots) {
    if (s.state === 'failed' || s.state === 'creating' || !heldObject(s, id)) continue;
    groups.set(s.groupId, [...(groups.get(s.groupId) ?? []), s]);
  }
  const ordered = [...groups.entries()].sort(([, a], [, b]) =>
    compareText(b[0]?.createdAt ?? '', a[0]?.createdAt ?? ''),
  );
  const passedOver: ObjectResolution['passedOver'] = [];
  let chosen: ObjectResolution['chosen'] = null;
  for (const [groupId, members] of ordered) {
    const pointInTime = members.map((m) => m.createdAt).sort()[0] as string;
    const pass = (reason: string) => passedOver.push({ groupId, pointInTime, reason });
    if (Date.parse(pointInTime) > at.getTime()) pass(`too new (taken ${short(pointInTime)})`);
    else if (chosen) pass(`older than ${chosen.groupId}`);
    else {
      const copies = members.sort((a, b) => compareText(a.volume, b.volume)).map((m) => copyOf(data, m));
      const missing = copies.filter((c): c is string => typeof c === 'string');
      if (missing.length) pass(missing.join('; '));
      else
        chosen = {
          groupId,
          pointInTime,
          record: heldObject(members[0] as Snapshot, id) as AppObject,
          copies: copies as ObjectCopy[],
        };
    }
  }
  return { object: id, asOf: at.toISOString(), chosen, passedOver };
}

/** The resolution, or the one-line error when nothing holds the object at that time. */
export function chooseObjectAt(
  data: CatalogData,
  id: string,
  time: string,
  now: Date,
): ObjectResolution & { chosen: NonNullable<ObjectResolution['chosen']> } {
  const resolution = resolveObjectAt(data, id, parseTime(time, now, '--as-of'));
  if (resolution.chosen) return resolution as ObjectResolution & { chosen: NonNullable<ObjectResolution['chosen']> };
  const why = resolution.passedOver
    .slice(0, 3)
    .map((p) => `${p.groupId} ${p.reason}`)
    .join('; ');
  throw new QrvError(
    'notFound',
    'nothing-at-time',
    `no copy holds ${id} as of ${short(resolution.asOf)}${why ? `: ${why}` : ': no snapshot has recorded it (is it named by a sub-client with --object?)'}`,
    'choose a later time, or see the copies that hold it with `qrv list --object ID`',
  );
}

export function objectResolutionLines(r: ObjectResolution): string[] {
  const head = r.chosen
    ? `${r.object} as of ${short(r.asOf)}: group ${r.chosen.groupId} of ${short(r.chosen.pointInTime)}${r.chosen.record.position ? ` (${r.chosen.record.position})` : ''}: ${r.chosen.copies.map((c) => `${c.volume} from ${c.id}`).join(', ')}`
    : `${r.object} as of ${short(r.asOf)}: nothing`;
  if (!r.passedOver.length) return [head];
  return [
    head,
    'passed over:',
    ...table(
      ['  GROUP', 'REASON'],
      r.passedOver.map((p) => [`  ${p.groupId}`, p.reason]),
    ).slice(1),
  ];
}

export async function resolveObject(ctx: Context, request: { object: string; asOf: string }): Promise<Summary> {
  const data = await ctx.catalog.read();
  const resolution = chooseObjectAt(data, request.object, request.asOf, ctx.now());
  return { data: { ...resolution }, lines: objectResolutionLines(resolution) };
}
