// Facts about block devices read from sysfs and procfs, without an outside program: a device's
// size, which devices are mounted, and whether a regular file backs a loop device.
import type { Stats } from 'node:fs';
// Named imports: tests replace readFile to play a machine whose sysfs does not answer.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';

/** Linux dev_t → "major:minor" (glibc's gnu_dev_major/gnu_dev_minor encoding). */
export function majorMinor(rdev: number): string {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

/** Size in bytes of the block device `stats` describes, or undefined where sysfs does not say. */
export async function deviceSize(stats: Stats): Promise<number | undefined> {
  try {
    const sectors = Number((await readFile(`/sys/dev/block/${majorMinor(stats.rdev)}/size`, 'utf8')).trim());
    return Number.isSafeInteger(sectors) ? sectors * 512 : undefined;
  } catch {
    return undefined;
  }
}

/** Size in bytes of a block device (stat's size is 0 for them). */
export async function blockDeviceSize(devicePath: string): Promise<number> {
  const size = await deviceSize(await stat(devicePath));
  if (size === undefined) throw new Error(`sysfs does not give the size of ${devicePath}`);
  return size;
}

/** The devices in /proc/self/mounts, by real path. */
export async function mountedDevices(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const devices = new Set<string>();
  for (const device of text.split('\n').map((line) => line.split(' ')[0])) {
    if (device?.startsWith('/dev/')) devices.add(await realpath(device).catch(() => device));
  }
  return devices;
}

/** Loop devices (e.g. /dev/loop3) whose backing file is `file`. */
export async function loopDevicesBackedBy(file: string): Promise<string[]> {
  const real = await realpath(file).catch(() => file);
  return (await loopDevices()).filter((loop) => !loop.deleted && loop.backingFile === real).map((loop) => loop.device);
}

/**
 * Every attached loop device with its backing file as the kernel records it (a canonical path;
 * `deleted` when the file was removed while attached, which the kernel marks " (deleted)").
 */
export async function loopDevices(): Promise<Array<{ device: string; backingFile: string; deleted: boolean }>> {
  let names: string[];
  try {
    names = (await readdir('/sys/block')).filter((name) => name.startsWith('loop'));
  } catch {
    return [];
  }
  const found: Array<{ device: string; backingFile: string; deleted: boolean }> = [];
  for (const name of names) {
    const backing = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '')).trim();
    if (!backing) continue;
    const deleted = backing.endsWith(' (deleted)');
    found.push({
      device: `/dev/${name}`,
      backingFile: deleted ? backing.slice(0, -' (deleted)'.length) : backing,
      deleted,
    });
  }
  return found;
}
