// Facts about block devices the dm provider needs, from stat, sysfs and procfs (no outside
// program): a device's major:minor, what holds it (a dm table over it), where a major:minor
// lives in /dev, the file behind a loop device, and whether a device can be opened exclusively
// (the kernel's own answer to "is it mounted or held"). Mounts: ../../system/freeze.ts.
import fs from 'node:fs/promises';

import { majorMinor } from '../../system/block-device.ts';

/** "major:minor" of a block device path, or null when it is not one (or does not exist). */
export async function blockDeviceId(devicePath: string): Promise<string | null> {
  const st = await fs.stat(devicePath).catch(() => null);
  return st?.isBlockDevice() ? majorMinor(st.rdev) : null;
}

/** The kernel names (e.g. dm-3) of what holds the device: device-mapper tables, md arrays. */
export async function holdersOf(id: string): Promise<string[]> {
  return fs.readdir(`/sys/dev/block/${id}/holders`).catch(() => [] as string[]);
}

/** /dev/<kernel name> of a major:minor (from sysfs's uevent), or null when the kernel has none. */
export async function devicePathOf(id: string): Promise<string | null> {
  const uevent = await fs.readFile(`/sys/dev/block/${id}/uevent`, 'utf8').catch(() => '');
  const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
  return name ? `/dev/${name}` : null;
}

/** The file behind a loop device given by major:minor, or null when it is no loop device. */
export async function loopBackingFile(id: string): Promise<string | null> {
  const backing = await fs.readFile(`/sys/dev/block/${id}/loop/backing_file`, 'utf8').catch(() => null);
  return backing === null ? null : backing.trim();
}

/**
 * Opens a block device for writing with O_EXCL, which Linux refuses (EBUSY) while it is mounted
 * or held by a device-mapper table, and runs `use` on it.
 */
export async function withExclusive<T>(devicePath: string, use: (handle: fs.FileHandle) => Promise<T>): Promise<T> {
  const handle = await fs.open(devicePath, fs.constants.O_RDWR | fs.constants.O_EXCL);
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}
