// `qrv run VOLUME --to DEST`: every phase in one process: snapshot, copy, verify, unsnap. A copy
// that fails removes the snapshot this run made (the system is left as it was), unless
// --keep-snapshot asked to keep it.
import type { Context } from '../engine/context.ts';
import { copyPhase } from '../engine/copy-phase.ts';
import { withJob } from '../engine/job-recorder.ts';
import { findVolume, volumeRef } from '../engine/lookup.ts';
import { resolveDestination } from '../engine/destination.ts';
import { getProvider } from '../providers/registry.ts';
import { snapshotPhase } from '../engine/snapshot-phase.ts';
import { unsnapPhase } from '../engine/unsnap-phase.ts';
import type { Summary } from '../output/printer.ts';
import { copyLines, snapshotLine } from '../output/rows.ts';
import type { HookOptions } from './job-options.ts';

export interface RunRequest extends HookOptions {
  volume: string;
  to: string;
  persistMs: number | null;
  label: string | null;
  keepSnapshot: boolean;
  force: boolean;
}

export async function run(ctx: Context, request: RunRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const volume = findVolume(data, request.volume);
  // Refuse a destination that cannot take the copy before a snapshot is taken: nothing changes.
  const facts = await getProvider(volume.provider).inspect(volumeRef(volume));
  await resolveDestination(data, volume, { path: volume.path, sizeBytes: facts.sizeBytes }, request.to, request.force);
  const { result, job } = await withJob(ctx, 'run', volume.name, async (job) => {
    const snapshot = await snapshotPhase(ctx, job, volume, request);
    let outcome;
    try {
      outcome = await copyPhase(ctx, job, volume, snapshot, request);
    } catch (error) {
      if (request.keepSnapshot) {
        await job.warn(`snapshot ${snapshot.id} is kept (--keep-snapshot) although the copy failed`);
      } else {
        await unsnapPhase(ctx, job, volume, snapshot).catch((cleanup: Error) => job.warn(`snapshot ${snapshot.id} could not be removed after the failed copy: ${cleanup.message}`));
      }
      throw error;
    }
    if (request.keepSnapshot) {
      job.skip('unsnap', 'remove snapshot', '--keep-snapshot: kept until its persistence lapses');
      return { snapshot, ...outcome };
    }
    const removed = await unsnapPhase(ctx, job, volume, snapshot);
    return { snapshot: removed, ...outcome };
  });
  return {
    data: { job, snapshot: result.snapshot, qrv: result.qrv, copy: result.copy },
    lines: [`snapshot ${snapshotLine(result.snapshot)}`, ...copyLines(result.qrv, result.copy), `job ${job.id} ${job.state}`],
  };
}
