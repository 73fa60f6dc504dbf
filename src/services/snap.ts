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
import { planVolumes, planWriters } from '../engine/writer-hold.ts';
import { writerOptions } from './app-objects.ts';
import type { Checkpoint } from '../writers/writer.ts';

export interface SnapRequest extends HookOptions {
  /** one volume, or several for one consistency group */
  volumes: string[];
  /** application objects: their volumes join the group, their writers are held (F13) */
  objects?: string[];
  persistMs: number | null;
  label: string | null;
  /** --max-freeze; absent: the default */
  maxFreezeMs?: number;
  allowInconsistent?: boolean;
  /** how application writers checkpoint (--checkpoint); absent: fast */
  checkpoint?: Checkpoint;
}

const bounds = (request: SnapRequest) => ({
  ...(request.maxFreezeMs !== undefined ? { maxFreezeMs: request.maxFreezeMs } : {}),
  ...(request.allowInconsistent ? { allowInconsistent: true } : {}),
  ...(request.checkpoint ? { checkpoint: request.checkpoint } : {}),
});

export async function snap(ctx: Context, request: SnapRequest): Promise<Summary> {
  await rediscover(ctx);
  const twice = request.volumes.find((name, index) => request.volumes.indexOf(name) !== index);
  if (twice) throw new QrvError('usage', 'usage', `volume "${twice}" is named twice`, 'name each volume once');
  const data = await ctx.catalog.read();
  const volumes = request.volumes.map((name) => findVolume(data, name));
  const plan = request.objects?.length ? await planWriters(data.volumes, request.objects) : null;
  for (const name of plan ? planVolumes(plan) : [])
    if (!volumes.some((v) => v.name === name)) volumes.push(findVolume(data, name));
  if (volumes.length === 0)
    throw new QrvError(
      'usage',
      'usage',
      'qrv snap needs a volume or --object',
      'e.g. `qrv snap web`, `qrv snap --object postgresql:main/billing`',
    );
  if (volumes.length > 1 || plan) {
    const rules = rulesFor(null, {
      persistMs: request.persistMs,
      hooks: request.hooks,
      hookTimeoutMs: request.hookTimeoutMs,
      ...bounds(request),
    });
    const members = volumes.map((volume) => ({ volume, rules }));
    const group = await snapshotGroup(ctx, members, {
      subclient: null,
      label: request.label,
      force: false,
      kind: 'snap',
      ...(plan ? { writers: { plan, ...writerOptions(members) } } : {}),
    });
    const jobs = [];
    for (const job of group.jobs) jobs.push(await endJob(job));
    return {
      data: { groupId: group.groupId, snapshots: group.snapshots, jobs },
      lines: [
        ...group.snapshots.map((s) => `snapshot ${snapshotLine(s)}`),
        `group ${group.groupId}: ${group.snapshots.length} volume${group.snapshots.length === 1 ? '' : 's'} in one freeze window${plan ? `, holding ${plan.objects.length} application object${plan.objects.length === 1 ? '' : 's'}` : ''}`,
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
