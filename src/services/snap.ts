// `qrv snap VOLUME...`: the snapshot phase alone; several volumes are one consistency group
// (one group id, one freeze window), as a sub-client's are in `qrv run`.
import { QrvError } from '../core/errors.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Context } from '../engine/context.ts';
import { endJob, withJob } from '../engine/job-recorder.ts';
import { snapshotPhase } from '../engine/snapshot-phase.ts';
import type { Summary } from '../output/printer.ts';
import { snapshotLine } from '../output/rows.ts';
import type { HookOptions } from './job-options.ts';
import { rediscover } from './discover.ts';
import { rulesFor } from '../policy/rules.ts';
import { snapshotGroup } from './group.ts';

export interface SnapRequest extends HookOptions {
  /** one volume, or several for one consistency group */
  volumes: string[];
  persistMs: number | null;
  label: string | null;
  /** --max-freeze; absent: the default */
  maxFreezeMs?: number;
  allowInconsistent?: boolean;
}

const bounds = (request: SnapRequest) => ({
  ...(request.maxFreezeMs !== undefined ? { maxFreezeMs: request.maxFreezeMs } : {}),
  ...(request.allowInconsistent ? { allowInconsistent: true } : {}),
});

export async function snap(ctx: Context, request: SnapRequest): Promise<Summary> {
  await rediscover(ctx);
  const twice = request.volumes.find((name, index) => request.volumes.indexOf(name) !== index);
  if (twice) throw new QrvError('usage', 'usage', `volume "${twice}" is named twice`, 'name each volume once');
  const data = await ctx.catalog.read();
  const volumes = request.volumes.map((name) => findVolume(data, name));
  if (volumes.length > 1) {
    const rules = rulesFor(null, {
      persistMs: request.persistMs,
      hooks: request.hooks,
      hookTimeoutMs: request.hookTimeoutMs,
      ...bounds(request),
    });
    const group = await snapshotGroup(
      ctx,
      volumes.map((volume) => ({ volume, rules })),
      { subclient: null, label: request.label, force: false, kind: 'snap' },
    );
    const jobs = [];
    for (const job of group.jobs) jobs.push(await endJob(job));
    return {
      data: { groupId: group.groupId, snapshots: group.snapshots, jobs },
      lines: [
        ...group.snapshots.map((s) => `snapshot ${snapshotLine(s)}`),
        `group ${group.groupId}: ${group.snapshots.length} volumes in one freeze window`,
      ],
    };
  }
  const volume = volumes[0] as (typeof volumes)[number];
  const { result: snapshot, job } = await withJob(ctx, 'snap', volume.name, (job) =>
    snapshotPhase(ctx, job, volume, {
      persistMs: request.persistMs,
      label: request.label,
      hooks: request.hooks,
      hookTimeoutMs: request.hookTimeoutMs,
      ...bounds(request),
    }),
  );
  return { data: { snapshot, job }, lines: [`snapshot ${snapshotLine(snapshot)}`] };
}
