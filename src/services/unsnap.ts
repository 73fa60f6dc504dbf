// `qrv unsnap SNAPSHOT`: removes one snapshot (refused when pinned, unless --force).
import type { Context } from '../engine/context.ts';
import { jobAlive, withJob } from '../engine/job-recorder.ts';
import { findSnapshot, findVolume } from '../catalog/lookup.ts';
import { checkRemovable, unsnapPhase } from '../engine/unsnap-phase.ts';
import type { Summary } from '../output/printer.ts';

export async function unsnap(ctx: Context, request: { snapshotId: string; force: boolean }): Promise<Summary> {
  const data = await ctx.catalog.read();
  const snapshot = findSnapshot(data, request.snapshotId);
  const copying = data.jobs.some(
    (j) =>
      j.snapshotId === snapshot.id && (j.qrvId !== null || j.kind === 'archive') && j.kind !== 'recover' && jobAlive(j),
  );
  checkRemovable(snapshot, request.force, copying);
  const volume = findVolume(data, snapshot.volume);
  const { result, job } = await withJob(ctx, 'unsnap', volume.name, (job) => unsnapPhase(ctx, job, volume, snapshot));
  return { data: { snapshot: result, job }, lines: [`removed snapshot ${result.id} of ${result.volume}`] };
}
