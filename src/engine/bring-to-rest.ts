// Bringing a volume's data to rest for its snapshot (F1): its mounted filesystem frozen under a
// guard, only flushed where the provider's own device suspend freezes it, or nothing to freeze.
import { open } from 'node:fs/promises';
import os from 'node:os';
import type { Volume } from '../catalog/schema.ts';
import { getProvider } from '../providers/registry.ts';
import { blockFreezeNests, freezeWithGuard, mountpointsOf, type Freeze } from '../system/freeze.ts';
import { freezeTargets } from './freeze-bound.ts';
import { requireTool, tool } from '../system/tools.ts';
import type { GroupFreeze } from './group-freeze.ts';

/** fdatasync of a file; a failure only costs time in the freeze window, so it is ignored. */
async function flushFile(file: string): Promise<void> {
  const handle = await open(file, 'r').catch(() => null);
  await handle?.datasync().catch(() => undefined);
  await handle?.close().catch(() => undefined);
}

export interface AtRest {
  method: string;
  warning?: string;
  /** the frozen filesystems, with the moment the freeze began */
  freeze?: Freeze;
}

/**
 * Brings the data to rest: a mounted filesystem on the volume (for a file image: on a loop
 * device it backs) is frozen (FIFREEZE, under a guard that thaws it if qrv dies or hangs); a
 * volume with no writer needs nothing; an image attached to a loop device that is not mounted
 * cannot be frozen. A provider that freezes by itself (lvm) only has the filesystem flushed,
 * except in a group on a kernel whose device suspend nests inside a freeze (Linux 6.8).
 */
export async function bringToRest(
  volume: Volume,
  kind: 'file' | 'block',
  maxFreezeMs: number,
  group?: GroupFreeze,
): Promise<AtRest> {
  const provider = getProvider(volume.provider);
  if (provider.quiesce === 'provider' && !(group && blockFreezeNests())) {
    // A mounted LV is frozen by the kernel itself while lvcreate suspends its device (dm
    // suspend with lockfs); before Linux 6.8 a FIFREEZE of ours makes that suspend fail (EBUSY,
    // measured on Debian 12's 6.1 kernel), so it is only flushed first. In a group, the LV is
    // then snapshotted inside the group's window but under its own suspend: the group is not
    // held frozen across the other members' snapshots. From 6.8 the suspend's freeze nests inside
    // ours, and an LV in a group joins the group's freeze below like any other volume.
    const mounted = await mountpointsOf([volume.path]);
    for (const point of mounted) await tool('sync', ['-f', point]).catch(() => undefined);
    if (group) void (await group.join([])).thaw().catch(() => undefined);
    const perVolume =
      group && mounted.length
        ? `${volume.name} (${volume.provider}) is snapshotted under its own device suspend, not held frozen for the whole group: this kernel (${os.release()}) cannot nest a device suspend inside a freeze (Linux 6.8 can), so the group is consistent per volume; for one point in time across volumes, quiesce the application in a pre-snapshot hook`
        : undefined;
    return { method: mounted.length ? 'dm-suspend' : 'none', ...(perVolume ? { warning: perVolume } : {}) };
  }
  const file = kind === 'file';
  const { loops, mountpoints } = await freezeTargets(volume, kind);
  const unmounted =
    loops.length && mountpoints.length === 0
      ? `${volume.path} is attached to ${loops.join(', ')}, which is not mounted, so there is no filesystem to freeze: writes to the device while the clone runs may be torn in the snapshot; stop its writer from a pre-snapshot hook`
      : undefined;
  if (mountpoints.length) {
    // Write out what is dirty first, outside the freeze window: the filesystem (syncfs), then the
    // loop device's writes into the image, so the freeze and the clone have little left to flush.
    for (const point of mountpoints) await tool('sync', ['-f', point]).catch(() => undefined);
    if (file) await flushFile(volume.path);
  }
  if (group) {
    // Every member joins, also one with nothing to freeze, so the group's window holds them all.
    const joined = await group.join(mountpoints, maxFreezeMs);
    if (mountpoints.length === 0) {
      void joined.thaw().catch(() => undefined);
      return { method: 'none', ...(unmounted ? { warning: unmounted } : {}) };
    }
    return { method: 'fsfreeze', freeze: joined, ...alreadyFrozenWarning(joined) };
  }
  if (mountpoints.length === 0) return { method: 'none', ...(unmounted ? { warning: unmounted } : {}) };
  const freeze = await freezeWithGuard(mountpoints, maxFreezeMs);
  return { method: 'fsfreeze', freeze, ...alreadyFrozenWarning(freeze) };
}

/** A volume that will be frozen needs fsfreeze: checked before the first write, so a missing one changes nothing. */
export async function checkFreezeTool(volume: Volume, kind: 'file' | 'block'): Promise<void> {
  if (getProvider(volume.provider).quiesce === 'provider') return;
  if ((await freezeTargets(volume, kind)).mountpoints.length) await requireTool('fsfreeze');
}

function alreadyFrozenWarning(freeze: Freeze): { warning?: string } {
  return freeze.alreadyFrozen.length
    ? {
        warning: `${freeze.alreadyFrozen.join(', ')} was frozen already (by a pre-snapshot hook?): the snapshot is taken as it is, and thawing it is left to whoever froze it (a post-snapshot hook)`,
      }
    : {};
}

export function frozeLine(freeze: Freeze): string {
  const parts = [];
  if (freeze.mountpoints.length)
    parts.push(
      `froze ${freeze.mountpoints.join(', ')} (a guard thaws within ${freeze.limitMs / 1000} s, the --max-freeze limit, if qrv dies or hangs)`,
    );
  if (freeze.alreadyFrozen.length) parts.push(`${freeze.alreadyFrozen.join(', ')} frozen already`);
  return parts.join('; ');
}
