// F4: removes a snapshot through its provider and marks the row removed (the row stays, so
// that point-in-time questions can say a copy existed and was deleted).
import type { Snapshot, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { getProvider } from '../providers/registry.ts';
import type { Context } from './context.ts';
import type { JobRecorder } from './job-recorder.ts';
import { volumeRef } from './lookup.ts';
import { replaceSnapshot } from './snapshot-phase.ts';

export function checkRemovable(snapshot: Snapshot, force: boolean, copyingFrom: boolean): void {
  if (snapshot.state === 'removed') throw new QrvError('refused', 'snapshot-removed', `snapshot ${snapshot.id} was already removed (${snapshot.removedAt})`, 'nothing to do');
  if (snapshot.pinned && !force) throw new QrvError('refused', 'snapshot-pinned', `snapshot ${snapshot.id} is pinned`, `unpin it first with \`qrv set ${snapshot.id} --unpin\``);
  if (copyingFrom) throw new QrvError('busy', 'snapshot-in-use', `snapshot ${snapshot.id} is being copied right now`, 'wait for the copy to finish');
}

export async function unsnapPhase(ctx: Context, job: JobRecorder, volume: Volume, snapshot: Snapshot): Promise<Snapshot> {
  const row = structuredClone(snapshot);
  row.state = 'removing';
  job.set({ snapshotId: snapshot.id });
  await job.begin((catalog) => replaceSnapshot(catalog.snapshots, row));
  const provider = getProvider(snapshot.provider);
  try {
    await job.step('unsnap', 'remove snapshot', async () => {
      if (row.handle) await provider.removeSnapshot(volumeRef(volume), row.handle);
    }, () => `${row.id} removed`);
  } catch (error) {
    row.state = snapshot.state;
    await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
    throw error;
  }
  row.state = 'removed';
  row.removedAt = ctx.now().toISOString();
  await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
  return row;
}
