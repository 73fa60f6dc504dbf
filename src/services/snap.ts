// `qrv snap VOLUME`: the snapshot phase alone.
import { findVolume } from '../engine/lookup.ts';
import type { Context } from '../engine/context.ts';
import { withJob } from '../engine/job-recorder.ts';
import { snapshotPhase } from '../engine/snapshot-phase.ts';
import type { Summary } from '../output/printer.ts';
import { snapshotLine } from '../output/rows.ts';
import type { HookOptions } from './job-options.ts';
import { rediscover } from './discover.ts';

export interface SnapRequest extends HookOptions {
  volume: string;
  persistMs: number | null;
  label: string | null;
}

export async function snap(ctx: Context, request: SnapRequest): Promise<Summary> {
  await rediscover(ctx);
  const volume = findVolume(await ctx.catalog.read(), request.volume);
  const { result: snapshot, job } = await withJob(ctx, 'snap', volume.name, (job) =>
    snapshotPhase(ctx, job, volume, { persistMs: request.persistMs, label: request.label, hooks: request.hooks, hookTimeoutMs: request.hookTimeoutMs }),
  );
  return { data: { snapshot, job }, lines: [`snapshot ${snapshotLine(snapshot)}`] };
}
