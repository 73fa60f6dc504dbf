// `qrv recover --group`: every member of a snapshot group written back, each as `qrv recover` does
// (./recover.ts), and a line that says which are back, which was being written, which are untouched.
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { namedTarget } from '../engine/destination.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import type { CatalogData } from '../catalog/schema.ts';
import { checkTarget, recover, sourceOf, type Attempt } from './recover.ts';
import { compareText } from '../core/text.ts';

export interface RecoverGroupRequest {
  groupId: string;
  force: boolean;
  /** write every block instead of only what differs */
  full?: boolean;
}

/**
 * `qrv recover --group G --force`: every volume of a consistency group back to that point in
 * time, each from its snapshot of the group, or — when that snapshot was removed — from a ready
 * QRV that still reflects it. Everything is checked before the first byte is written: a member
 * with nothing left to recover from, or a target that is refused, stops the whole group.
 */
export async function recoverGroup(ctx: Context, request: RecoverGroupRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const plan = groupPlan(data, request.groupId);
  // All checks first: nothing is written unless every member can be recovered.
  for (const { volume, from } of plan) {
    const source = await sourceOf(ctx, findVolume(data, volume).name, from);
    const { target, st } = await namedTarget(findVolume(data, volume).path);
    await checkTarget(data, ctx.catalog.home, {
      volume,
      target,
      st,
      isVolume: true,
      force: request.force,
      sizeBytes: source.sizeBytes,
    });
  }
  const done: Summary[] = [];
  for (const [index, { volume, from }] of plan.entries()) {
    const attempt: Attempt = { written: false };
    try {
      done.push(await recover(ctx, { volume, from, force: request.force, full: request.full === true }, attempt));
    } catch (error) {
      if (done.length || attempt.written)
        ctx.reporter.warn(
          partLine(
            request.groupId,
            plan.map((p) => p.volume),
            index,
            attempt.written,
          ),
        );
      throw error;
    }
  }
  return {
    data: { groupId: request.groupId, recovered: done.map((d) => d.data) },
    lines: [
      ...done.flatMap((d) => d.lines),
      `group ${request.groupId}: ${done.length} volumes recovered to one point in time`,
    ],
  };
}

/** Each member of the group and what it is recovered from: its snapshot, or a ready QRV that reflects it. */
function groupPlan(data: CatalogData, groupId: string): Array<{ volume: string; from: string }> {
  const members = data.snapshots.filter((s) => s.groupId === groupId && s.state !== 'failed' && s.state !== 'creating');
  members.sort((a, b) => compareText(a.volume, b.volume)); // one order, whatever the rows' order in the catalog
  if (members.length === 0)
    throw new QrvError(
      'notFound',
      'unknown-group',
      `no snapshots with group id "${groupId}"`,
      'group ids start with g-; `qrv show` a snapshot names its group',
    );
  return members.map((snapshot) => {
    if (snapshot.state === 'ready') return { volume: snapshot.volume, from: snapshot.id };
    const qrv = data.qrvs.find(
      (q) => q.state === 'ready' && q.volume === snapshot.volume && q.snapshotId === snapshot.id,
    );
    if (!qrv)
      throw new QrvError(
        'refused',
        'group-incomplete',
        `snapshot ${snapshot.id} of "${snapshot.volume}" in group ${groupId} is ${snapshot.state} and no ready QRV reflects it`,
        'recover the volumes one by one from what is left, or from another group',
      );
    return { volume: snapshot.volume, from: qrv.id };
  });
}

/** Which members of a group failing at `failed` are back, which one was being written, which are untouched. */
export function partLine(groupId: string, volumes: string[], failed: number, written: boolean): string {
  const list = (names: string[]) => names.join(', ');
  const back = volumes.slice(0, failed);
  const untouched = volumes.slice(failed + (written ? 1 : 0));
  const parts = [
    back.length ? `${list(back)} ${back.length === 1 ? 'is' : 'are'} back` : 'no volume is back',
    ...(written ? [`${volumes[failed]} failed while being written (its content is mixed now: recover it again)`] : []),
    ...(untouched.length ? [`${list(untouched)} ${untouched.length === 1 ? 'was' : 'were'} not touched`] : []),
  ];
  return `group ${groupId} is recovered only in part: ${parts.join('; ')}`;
}
