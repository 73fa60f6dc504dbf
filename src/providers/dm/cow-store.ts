// The dm provider's copy-on-write stores: a sparse file `<cowDir>/<volume>@<id>.cow` on a loop
// device (cowPercent of the volume), or a device the admin gave (cowDevice); made for a new
// snapshot, opened again after a reboot, detached and deleted with the snapshot.
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../../core/errors.ts';
import { tool, toolOk } from '../../system/tools.ts';
import { loopDevicesBackedBy } from '../../system/block-device.ts';
import { readExceptionStore } from '../cow/exception-store.ts';
import type { VolumeRef } from '../provider.ts';
import { majorMinor } from '../../system/block-device.ts';
import { blockDeviceId, devicePathOf, loopBackingFile, withExclusive } from './devices.ts';
import { mapperPath, originName } from './dmsetup.ts';

/** Default size of a file COW store, in % of the volume. */
export const DEFAULT_COW_PERCENT = 20;
const MIN_COW_BYTES = 4 * 1024 * 1024;

export function cowPercentOf(volume: VolumeRef): number {
  const percent = Number(volume.options.cowPercent ?? DEFAULT_COW_PERCENT);
  return Number.isFinite(percent) && percent > 0 && percent <= 100 ? percent : DEFAULT_COW_PERCENT;
}

export function cowFile(volume: VolumeRef, snapshotId: string): string | null {
  return volume.options.cowDir ? path.join(volume.options.cowDir, `${volume.name}@${snapshotId}.cow`) : null;
}

/** The COW store of a new snapshot: a device given by the admin, or a sparse file on a loop device. */
export async function makeCowStore(
  volume: VolumeRef,
  snapshotId: string,
  sizeBytes: number,
  undo: Array<() => Promise<void>>,
): Promise<string> {
  const given = volume.options.cowDevice;
  if (given) return clearCowDevice(given);
  const file = cowFile(volume, snapshotId);
  if (!file)
    throw new QrvError(
      'usage',
      'no-cow-dir',
      `volume "${volume.name}" has no cowDir option`,
      `add it again with \`qrv volume add ... --cow-dir DIR\``,
    );
  await cowFolder(volume, path.dirname(file));
  const bytes = Math.max(MIN_COW_BYTES, Math.ceil((sizeBytes * cowPercentOf(volume)) / 100 / 4096) * 4096);
  await newCowFile(file, bytes, undo);
  const loop = (await toolOk('losetup', ['-f', '--show', file])).stdout.trim();
  undo.push(async () => void (await tool('losetup', ['-d', loop])));
  if (!(await blockDeviceId(loop)))
    throw new QrvError(
      'io',
      'no-loop-device',
      `losetup attached ${file} to "${loop}", which is no block device`,
      'check `losetup -a`',
    );
  return loop;
}

/** The admin's COW device, cleared (a store left from an earlier snapshot would be taken up again by `P`). */
async function clearCowDevice(given: string): Promise<string> {
  // O_EXCL fails while a dm table (an earlier snapshot) or a mount holds it.
  await withExclusive(given, async (handle) => {
    await handle.write(Buffer.alloc(4096), 0, 4096, 0);
    await handle.datasync();
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EBUSY')
      throw new QrvError(
        'refused',
        'cow-device-busy',
        `COW device ${given} is in use (by another snapshot, or mounted)`,
        'remove the snapshot that uses it first (`qrv unsnap`): a COW device holds one snapshot at a time; or drop cowDevice for COW files',
      );
    throw new QrvError(
      'io',
      'cow-device-unusable',
      `cannot use COW device ${given} (${error.code ?? error.message})`,
      'check the device',
    );
  });
  return given;
}

/** The COW folder, made (0700) if needed, and not on the volume itself (every copy-on-write would write to the volume). */
async function cowFolder(volume: VolumeRef, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError(
      'io',
      'cow-dir-unusable',
      `cannot create the COW folder ${dir} (${error.code ?? error.message})`,
      "check the volume's cowDir option",
    );
  });
  const [dirStat, originId] = await Promise.all([fs.stat(dir), blockDeviceId(mapperPath(originName(volume.name)))]);
  if (originId && majorMinor(dirStat.dev) === originId) {
    throw new QrvError(
      'refused',
      'cow-on-volume',
      `the COW folder ${dir} is on volume "${volume.name}" itself`,
      'set cowDir to a folder on another filesystem (qrv volume add ... --cow-dir DIR)',
    );
  }
}

/** A new sparse COW file of `bytes` (0600, never one that exists), removed by `undo`. */
async function newCowFile(file: string, bytes: number, undo: Array<() => Promise<void>>): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError(
      'io',
      'cow-file-unusable',
      `cannot create the COW file ${file} (${error.code ?? error.message})`,
      error.code === 'EEXIST'
        ? 'it is left from an earlier snapshot with this id: remove it if no loop device uses it (losetup -j FILE)'
        : 'check the COW folder',
    );
  });
  undo.push(() => fs.rm(file, { force: true }));
  try {
    await handle.truncate(bytes);
  } catch (error) {
    throw new QrvError(
      'io',
      'cow-file-unusable',
      `cannot size the COW file ${file} to ${bytes} bytes (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'free space in the COW folder',
    );
  } finally {
    await handle.close();
  }
}

/** The COW store of a snapshot made before (after a reboot): its file on a new loop device, or the COW device. */
export async function existingCowStore(
  volume: VolumeRef,
  snapshotId: string,
  undo: Array<() => Promise<void>>,
): Promise<string> {
  const given = volume.options.cowDevice;
  if (given) {
    await withExclusive(given, async () => undefined).catch((error: NodeJS.ErrnoException) => {
      throw new QrvError(
        error.code === 'EBUSY' ? 'refused' : 'io',
        error.code === 'EBUSY' ? 'cow-device-busy' : 'cow-device-unusable',
        `COW device ${given} of snapshot ${snapshotId} cannot be used (${error.code ?? error.message})`,
        'check the device',
      );
    });
    // A device without a store would be taken as a new, empty one: a snapshot of today's data.
    await readExceptionStore(given);
    return given;
  }
  const file = cowFile(volume, snapshotId);
  if (!file || !(await fs.stat(file).catch(() => null))?.isFile()) {
    throw new QrvError(
      'io',
      'cow-missing',
      `the COW file of snapshot ${snapshotId} (${file ?? 'no cowDir'}) is gone`,
      `the snapshot is lost: \`qrv unsnap ${snapshotId}\` removes its catalog row`,
    );
  }
  await readExceptionStore(file);
  const loop = (await toolOk('losetup', ['-f', '--show', file])).stdout.trim();
  undo.push(async () => void (await tool('losetup', ['-d', loop])));
  return loop;
}

/** Detaches the loop device of a snapshot's COW file and deletes the file (a COW device is left). */
export async function releaseCow(volume: VolumeRef, snapshotId: string, cowId: string | null): Promise<void> {
  const given = cowFile(volume, snapshotId);
  if (!given) return;
  // losetup records the canonical path of the file
  const file = await fs.realpath(given).catch(() => given);
  const loops = new Set<string>();
  if (cowId && (await loopBackingFile(cowId)) === file) {
    const loop = await devicePathOf(cowId);
    if (loop) loops.add(loop);
  }
  for (const loop of await loopDevicesBackedBy(file)) loops.add(loop);
  for (const loop of loops) await toolOk('losetup', ['-d', loop]);
  await fs.rm(given, { force: true });
}
