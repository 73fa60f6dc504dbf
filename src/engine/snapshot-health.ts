// Snapshots whose copy-on-write store can fill up (classic LVM, dm): one that overflowed is
// invalid (the kernel dropped it) and is never copied from; one that is nearly full is warned
// about, at each copy and at each `qrv cron`, so that the admin hears of it before it is lost.
import type { CatalogData, Snapshot, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { getProvider } from '../providers/registry.ts';
import type { JobRecorder } from './job-recorder.ts';
import { volumeRef } from '../providers/provider.ts';

/** A snapshot whose copy-on-write store is this full (in %) is warned about before and after a copy. */
export const COW_WARN_PERCENT = 80;

/**
 * Refuses to copy from a snapshot whose copy-on-write store overflowed (the kernel dropped it:
 * reads fail or, worse, return what is not the point in time), and warns when it is nearly full.
 * Asked before the copy and again after it, before the QRV can be marked ready.
 */
export async function checkSnapshotHealth(
  job: JobRecorder,
  volume: Volume,
  snapshot: Snapshot,
  when: 'before' | 'after',
): Promise<void> {
  const provider = getProvider(snapshot.provider);
  if (!provider.snapshotHealth) return;
  const health = await provider.snapshotHealth(volumeRef(volume), snapshot);
  if (health.invalid) {
    throw new QrvError(
      'refused',
      'snapshot-invalid',
      `snapshot ${snapshot.id} of volume ${volume.name} overflowed its copy-on-write store${when === 'after' ? ' while it was being copied' : ''} and is invalid: its point in time is lost`,
      `remove it (qrv unsnap ${snapshot.id}), give the volume a bigger COW store (cowPercent) and take a new snapshot`,
    );
  }
  if (health.usedPercent !== null && health.usedPercent >= COW_WARN_PERCENT) {
    await job.warn(fillingWarning(snapshot, health.usedPercent));
  }
}

function fillingWarning(snapshot: Snapshot, usedPercent: number): string {
  return `snapshot ${snapshot.id} of volume ${snapshot.volume}: its copy-on-write store is ${usedPercent.toFixed(1)} % full; when it fills, the snapshot is lost (give the volume a bigger cowPercent, or copy sooner after the snapshot)`;
}

/** Every ready snapshot with a COW store: those that overflowed, and those at least COW_WARN_PERCENT full. */
export async function scanSnapshotHealth(data: CatalogData): Promise<{ invalid: string[]; filling: string[] }> {
  const invalid: string[] = [];
  const filling: string[] = [];
  for (const snapshot of data.snapshots) {
    if (snapshot.state !== 'ready') continue;
    const provider = getProvider(snapshot.provider);
    const volume = data.volumes.find((v) => v.name === snapshot.volume);
    if (!provider.snapshotHealth || !volume) continue;
    const health = await provider.snapshotHealth(volumeRef(volume), snapshot).catch(() => null);
    if (health?.invalid)
      invalid.push(
        `snapshot ${snapshot.id} of volume ${snapshot.volume} overflowed its copy-on-write store and is invalid (run \`qrv doctor --fix\` to remove it)`,
      );
    else if (health?.usedPercent != null && health.usedPercent >= COW_WARN_PERCENT)
      filling.push(fillingWarning(snapshot, health.usedPercent));
  }
  return { invalid, filling };
}
