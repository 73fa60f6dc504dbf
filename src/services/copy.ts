// `qrv copy SNAPSHOT --to DEST`: the copy phase alone, from a snapshot that exists.
import type { Context } from '../engine/context.ts';
import { copyPhase } from '../engine/copy-phase.ts';
import { withJob } from '../engine/job-recorder.ts';
import { findVolume, readableSnapshot } from '../engine/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { copyLines } from '../output/rows.ts';
import type { HookOptions } from './job-options.ts';

export interface CopyRequest extends HookOptions {
  snapshotId: string;
  to: string;
  force: boolean;
}

export async function copy(ctx: Context, request: CopyRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const snapshot = readableSnapshot(data, request.snapshotId);
  const volume = findVolume(data, snapshot.volume);
  const { result, job } = await withJob(ctx, 'copy', volume.name, (job) => copyPhase(ctx, job, volume, snapshot, request));
  return { data: { qrv: result.qrv, copy: result.copy, job }, lines: copyLines(result.qrv, result.copy) };
}
