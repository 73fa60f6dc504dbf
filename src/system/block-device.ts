// Facts about block devices read from sysfs, without an outside program: a device's size and
// whether a regular file backs a loop device (a loop-attached image is in use).
import fs from 'node:fs/promises';

function majorMinor(rdev: number): string {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Size in bytes of a block device (stat's size is 0 for them). */
export async function blockDeviceSize(devicePath: string): Promise<number> {
  const st = await fs.stat(devicePath);
  const sectors = await fs.readFile(`/sys/dev/block/${majorMinor(st.rdev)}/size`, 'utf8');
  return Number(sectors.trim()) * 512;
}

/** Loop devices (e.g. /dev/loop3) whose backing file is `file`. */
export async function loopDevicesBackedBy(file: string): Promise<string[]> {
  const real = await fs.realpath(file).catch(() => file);
  let names: string[];
  try {
    names = (await fs.readdir('/sys/block')).filter((name) => name.startsWith('loop'));
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names) {
    const backing = await fs.readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
    if (backing.trim() === real) found.push(`/dev/${name}`);
  }
  return found;
}
