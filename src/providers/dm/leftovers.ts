// Taking a snapshot's devices away again (detach: the snapshot device under a suspended origin,
// the origin back to linear, -real), and finding what a qrv killed in the middle of a snapshot or
// of its removal left behind (leftovers, for `qrv doctor`): an origin left suspended or with a
// table loaded but not live, -real without a snapshot (the origin maybe still a snapshot-origin
// over it), loop devices over COW files and COW files no snapshot uses. A volume whose origin is
// not active (after a reboot, before `qrv volume activate`) is skipped: its COW files may be its
// snapshots'. Pieces of snapshots the catalog keeps or the kernel holds are never listed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { failpoint } from '../../core/failpoints.ts';
import { QrvError } from '../../core/errors.ts';
import { loopDevices, loopDevicesBackedBy } from '../../system/block-device.ts';
import { tool, toolOk } from '../../system/tools.ts';
import type { Leftover, LeftoverScope, VolumeRef } from '../provider.ts';
import { blockDeviceId, holdersOf } from './devices.ts';
import {
  deviceState,
  dmsetup,
  listDevices,
  liveTable,
  ownSnapshots,
  removeDevice,
  requireRoot,
  resume,
  table,
} from './dm-calls.ts';
import { isSnapshotId, originName, originUuid, realName, realUuid, type DmDevice } from './dmsetup.ts';

/**
 * Removes this volume's snapshot device `remove` (if given, under a suspended origin); when no
 * snapshot is left, switches the origin back to linear and removes -real. An origin a killed qrv
 * left suspended is resumed, a table it loaded but did not make live is cleared first. `strict`:
 * a -real that cannot be removed is an error (otherwise it is left for `qrv doctor`).
 */
export async function detach(
  volume: VolumeRef,
  devices: DmDevice[],
  remove: string | null,
  strict = false,
): Promise<void> {
  const origin = devices.find((d) => d.name === originName(volume.name) && d.uuid === originUuid(volume.name));
  const real = devices.find((d) => d.name === realName(volume.name) && d.uuid === realUuid(volume.name));
  const left = ownSnapshots(volume, devices).filter((s) => s.name !== remove);
  const originTable = origin ? await table(origin.name) : null;
  const state = origin ? await deviceState(origin.name) : null;
  const restore = left.length === 0 && real !== undefined && originTable?.target === 'snapshot-origin';
  const realTable = restore && real ? await table(real.name) : null;
  const removeReal = async (): Promise<void> => {
    if (left.length === 0 && real && (restore || originTable?.target !== 'snapshot-origin')) {
      await removeDevice(real.name).catch((error: unknown) => {
        if (strict) throw error;
      });
    }
  };
  if (!remove && !restore && !state?.suspended && !state?.inactiveTable) return removeReal();
  const removed = remove ? devices.find((d) => d.name === remove) : undefined;
  if (removed && removed.open > 0) {
    throw new QrvError(
      'busy',
      'snapshot-busy',
      `snapshot ${remove} is in use (mounted, or a copy reads it)`,
      'unmount it or wait for the copy, then remove it again',
    );
  }
  // Only the table changes, no point in time is taken: the filesystem need not be frozen (and
  // one frozen by someone else would make a lockfs suspend fail).
  if (origin) await dmsetup(['suspend', '--nolockfs', origin.name]);
  let failure: unknown;
  try {
    // A table loaded by a qrv killed before its resume would become live at the resume below.
    if (origin && state?.inactiveTable) await dmsetup(['clear', origin.name]);
    // No --retry here: the origin is suspended meanwhile.
    if (remove) {
      await dmsetup(['remove', '--verifyudev', remove]);
      await failpoint('dm-mid-remove');
    }
    if (restore && origin && realTable)
      await dmsetup(['reload', origin.name, '--table', `0 ${realTable.length} linear ${realTable.args.join(' ')}`]);
  } catch (error) {
    failure = error;
  }
  if (origin) await resume(origin.name);
  if (failure) {
    if (failure instanceof QrvError && /busy/i.test(failure.message) && remove) {
      throw new QrvError(
        'busy',
        'snapshot-busy',
        `snapshot ${remove} is in use (mounted, or a copy reads it)`,
        `unmount it or wait for the copy, then remove it again`,
      );
    }
    throw failure;
  }
  await removeReal();
}

/** A COW file name of this volume: `<volume>@<snapshot id>.cow`; the id, or null. */
function cowSnapshotId(volume: string, file: string): string | null {
  const prefix = `${volume}@`;
  if (!file.startsWith(prefix) || !file.endsWith('.cow')) return null;
  const id = file.slice(prefix.length, -'.cow'.length);
  return isSnapshotId(id) ? id : null;
}

async function heldBy(loop: string): Promise<string[]> {
  const id = await blockDeviceId(loop);
  return id ? holdersOf(id) : [];
}

type Loops = Awaited<ReturnType<typeof loopDevices>>;

/** What a killed qrv left of this provider's snapshots (Provider.leftovers). */
export async function leftovers(scopes: LeftoverScope[]): Promise<Leftover[]> {
  requireRoot();
  const devices = await listDevices();
  const loops = await loopDevices();
  const found: Leftover[] = [];
  for (const { volume, keep } of scopes) {
    const origin = devices.find((d) => d.name === originName(volume.name) && d.uuid === originUuid(volume.name));
    if (!origin) continue;
    const snapshots = ownSnapshots(volume, devices);
    const kept = new Set([...keep, ...snapshots.map((s) => s.snapshotId)]);
    found.push(...(await deviceLeftovers(volume, devices, origin, snapshots.length)));
    found.push(...(await cowLeftovers(volume, loops, kept)));
  }
  return found;
}

/** The origin left suspended or with a loaded table; a -real device with no snapshot over it. */
async function deviceLeftovers(
  volume: VolumeRef,
  devices: DmDevice[],
  origin: DmDevice,
  snapshots: number,
): Promise<Leftover[]> {
  const found: Leftover[] = [];
  // Checked again at the fix: by then doctor may have removed a snapshot device.
  const settle = async (): Promise<void> => detach(volume, await listDevices(), null, true);
  const state = await deviceState(origin.name);
  if (state.suspended || state.inactiveTable) {
    const inactive = state.inactiveTable
      ? `, with a table loaded but not live (${await inactiveTable(origin.name)})`
      : '';
    found.push({
      subject: origin.name,
      what: `${origin.name} of volume ${volume.name} was left ${state.suspended ? 'suspended: its I/O is held' : 'active'}${inactive}`,
      action: `${state.inactiveTable ? 'clear the loaded table and ' : ''}resume it`,
      remove: settle,
    });
  }
  const real = devices.find((d) => d.name === realName(volume.name) && d.uuid === realUuid(volume.name));
  if (real && snapshots === 0) {
    const asOrigin = (await liveTable(origin.name))?.target === 'snapshot-origin';
    found.push({
      subject: real.name,
      what: `${real.name} of volume ${volume.name} has no snapshot over it${asOrigin ? `, and ${origin.name} is still a snapshot-origin over it` : ''}`,
      action: asOrigin
        ? `reload ${origin.name} as linear over the device, resume it, remove ${real.name}`
        : `remove ${real.name}`,
      remove: settle,
    });
  }
  return found;
}

/**
 * In the volume's COW folder: loop devices attached to COW files of snapshots nothing keeps (and
 * nothing holds), then such COW files. A loop that another table holds is left alone, with its file.
 */
async function cowLeftovers(volume: VolumeRef, loops: Loops, kept: Set<string>): Promise<Leftover[]> {
  const cowDir = volume.options.cowDir;
  if (!cowDir) return [];
  const found: Leftover[] = [];
  const dir = await fs.realpath(cowDir).catch(() => path.resolve(cowDir));
  const idsWithHeldLoop = new Set<string>();
  for (const loop of loops) {
    const id =
      path.dirname(loop.backingFile) === dir ? cowSnapshotId(volume.name, path.basename(loop.backingFile)) : null;
    if (!id || kept.has(id)) continue;
    if ((await heldBy(loop.device)).length) {
      idsWithHeldLoop.add(id); // a device-mapper table over it that is not qrv's snapshot: left alone
      continue;
    }
    found.push({
      subject: loop.device,
      what: `loop device ${loop.device} is attached to ${loop.backingFile}${loop.deleted ? ' (deleted)' : ''}, the COW file of snapshot ${id} of ${volume.name}, which no snapshot uses`,
      action: 'detach it (losetup -d)',
      remove: () => detachLoop(loop.device, loop.backingFile),
    });
  }
  for (const name of (await fs.readdir(dir).catch(() => [] as string[])).sort()) {
    const id = cowSnapshotId(volume.name, name);
    if (!id || kept.has(id) || idsWithHeldLoop.has(id)) continue;
    const file = path.join(dir, name);
    found.push({
      subject: file,
      what: `COW file ${file} of snapshot ${id} of ${volume.name} belongs to no snapshot the catalog keeps or the kernel holds`,
      action: 'delete it',
      remove: () => deleteCowFile(file),
    });
  }
  return found;
}

async function inactiveTable(name: string): Promise<string> {
  const result = await tool('dmsetup', ['table', '--inactive', name]);
  return (result.exitCode === 0 && result.stdout.trim()) || '?';
}

/** Detaches a loop device if it is still attached to `file` and nothing holds it. */
async function detachLoop(loop: string, file: string): Promise<void> {
  const now = (await loopDevices()).find((l) => l.device === loop);
  if (!now || now.backingFile !== file) return;
  const holders = await heldBy(loop);
  if (holders.length)
    throw new QrvError(
      'refused',
      'loop-busy',
      `${loop} is held by ${holders.join(', ')}`,
      'look at `dmsetup table`; qrv leaves it alone',
    );
  await toolOk('losetup', ['-d', loop]);
}

/** Deletes a COW file that no loop device uses any more. */
async function deleteCowFile(file: string): Promise<void> {
  const attached = await loopDevicesBackedBy(file);
  if (attached.length)
    throw new QrvError(
      'refused',
      'cow-in-use',
      `COW file ${file} is still attached to ${attached.join(', ')}`,
      'detach it first (losetup -d) if nothing uses it',
    );
  await fs.rm(file, { force: true });
}
