// Bounding the freeze (issue 18, issue 12 item 9): a filesystem frozen for a snapshot stalls every
// writer of it, so qrv keeps it frozen at most --max-freeze, which is also the freeze guard's
// deadline. Before freezing for a copy that cannot be a clone, the copy's length is estimated from
// the image's allocated bytes and the copy rate remembered from earlier copies, and a freeze that
// would outlast the limit is refused with nothing frozen. Once frozen, qrv asks the freeze whether
// it still holds before the snapshot and again before recording it: a guard that thawed at the
// limit means the snapshot is of a live filesystem, so it is discarded.
import type { CatalogData, Consistency, Volume } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import type { Provider, SnapshotMade, VolumeRef } from '../providers/provider.ts';
import { loopDevicesBackedBy } from '../system/block-device.ts';
import { mountpointsOf, type Freeze } from '../system/freeze.ts';
import { compareText } from '../core/text.ts';

/**
 * The copy rate assumed before any copy was measured on this host: a third of what the copy engine
 * did here with warm caches (≈ 0.9 GB/s for a sparse copy on ext4, docs/providers.md), because a
 * cold image reads slower. Every later copy records its own rate on its snapshot row.
 */
export const DEFAULT_COPY_RATE = 300e6;

/** What a snapshot of the volume would freeze: the loop devices its image backs and where those (or the device) are mounted. */
export async function freezeTargets(
  volume: Volume,
  kind: 'file' | 'block',
): Promise<{ loops: string[]; mountpoints: string[] }> {
  const loops = kind === 'file' ? await loopDevicesBackedBy(volume.path) : [];
  return { loops, mountpoints: await mountpointsOf(kind === 'file' ? loops : [volume.path]) };
}

/** The copy rate to estimate with: the newest measured on this volume, else on any volume, else the default. */
export function rememberedRate(data: CatalogData, volume: string): { rate: number; measured: boolean } {
  const measured = data.snapshots
    .filter((s) => s.copyRate !== null)
    .sort((a, b) => compareText(b.createdAt, a.createdAt));
  const row = measured.find((s) => s.volume === volume) ?? measured[0];
  return row?.copyRate ? { rate: row.copyRate, measured: true } : { rate: DEFAULT_COPY_RATE, measured: false };
}

const seconds = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`);

/**
 * Refuses, before anything is frozen, a snapshot whose copy would keep a filesystem frozen longer
 * than `maxFreezeMs`. Nothing to freeze, or a snapshot that is a clone: nothing to refuse.
 */
export async function checkFreezeBudget(
  target: { provider: Provider; ref: VolumeRef; volume: Volume; kind: 'file' | 'block' },
  data: CatalogData,
  maxFreezeMs: number,
): Promise<void> {
  const { provider, ref, volume, kind } = target;
  if (provider.quiesce === 'provider' || !provider.copyEstimate) return;
  const { mountpoints } = await freezeTargets(volume, kind);
  if (!mountpoints.length) return;
  const estimate = await provider.copyEstimate(ref);
  if (!estimate) return;
  const { rate, measured } = rememberedRate(data, volume.name);
  const ms = (estimate.bytes / rate) * 1000;
  if (ms <= maxFreezeMs) return;
  throw new QrvError(
    'refused',
    'freeze-too-long',
    `volume "${volume.name}": its image cannot be cloned here, and copying its ${formatBytes(estimate.bytes)} would keep ${mountpoints.join(', ')} frozen about ${seconds(ms)} (at ${(rate / 1e6).toFixed(0)} MB/s, ${measured ? 'measured on an earlier copy' : 'assumed: nothing measured yet'}), longer than --max-freeze ${seconds(maxFreezeMs)}; nothing was frozen`,
    'keep the image on a reflink filesystem (XFS with reflink, btrfs) so that its snapshot is a clone, or use the lvm or dm provider, or allow a longer freeze with --max-freeze (every writer of the filesystem stalls that long)',
  );
}

/** The error for a freeze the guard ended at the limit before qrv was done with it. */
export function freezeOverrun(freeze: Freeze, when: string): QrvError {
  return new QrvError(
    'busy',
    'freeze-overrun',
    `${freeze.mountpoints.join(', ')} stayed frozen past --max-freeze ${seconds(freeze.limitMs)} and the freeze guard thawed it at the limit ${when}, so the snapshot would not be one point in time: it was discarded, nothing is left`,
    'allow a longer freeze with --max-freeze, or make the snapshot a clone (XFS with reflink, btrfs, the lvm or dm provider); if a hook or the machine was busy, run it again',
  );
}

/** Throws freezeOverrun when the freeze no longer holds for sure. */
export function assertStillFrozen(freeze: Freeze | undefined, when: string): void {
  if (freeze && freeze.mountpoints.length && !freeze.held()) throw freezeOverrun(freeze, when);
}

/** How the snapshot's point in time was obtained, for its row. */
export function consistencyOf(made: SnapshotMade, frozen: boolean): Consistency {
  if (made.consistency === 'crash-torn') return 'crash-torn';
  return frozen ? 'frozen' : 'atomic';
}

/** The freeze window as it really was: up to qrv's thaw, or up to the guard's thaw at the limit. */
export function windowMs(freeze: Freeze, heldAtThaw: boolean): number {
  const measured = Number(process.hrtime.bigint() - freeze.since) / 1e6;
  return heldAtThaw ? measured : Math.min(measured, freeze.limitMs);
}
