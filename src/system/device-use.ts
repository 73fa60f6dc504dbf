// Who uses a volume right now, from procfs and sysfs (no outside program): an image attached to
// loop devices, a block device (an LV's /dev/VG/LV, a dm volume's /dev/mapper/qrv-NAME, a disk)
// mounted — directly, through a partition, or through a device stacked on it (dm-crypt, LVM,
// kpartx: sysfs "holders") — or used as swap. Mounts are matched by major:minor in
// /proc/self/mountinfo and, for filesystems that report an anonymous device (btrfs), by their
// source device.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { loopDevicesBackedBy, majorMinor } from './block-device.ts';

export interface DeviceUse {
  how: 'mounted' | 'swap' | 'held' | 'attached';
  /** the mountpoint, the swap area, the holder's name, or the loop device */
  where: string;
  /** the device in between, when the use is not of the path itself (a loop device, a partition, a holder) */
  through: string | null;
}

interface Dev {
  id: string;
  /** kernel name, e.g. loop3, dm-2, sda1 */
  name: string;
}

const unescape = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

async function kernelName(id: string): Promise<string> {
  const uevent = await readFile(`/sys/dev/block/${id}/uevent`, 'utf8').catch(() => '');
  return /^DEVNAME=(.+)$/m.exec(uevent)?.[1] ?? id;
}

async function devOf(sysDir: string): Promise<string | null> {
  return (await readFile(`${sysDir}/dev`, 'utf8').catch(() => null))?.trim() ?? null;
}

/** A device, its partitions and everything stacked on them (holders), recursively. */
async function stack(id: string, seen = new Map<string, Dev>()): Promise<Map<string, Dev>> {
  if (seen.has(id)) return seen;
  seen.set(id, { id, name: await kernelName(id) });
  const dir = `/sys/dev/block/${id}`;
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    // A partition is a sub-folder with a "partition" file.
    if (await stat(`${dir}/${entry}/partition`).catch(() => null)) {
      const part = await devOf(`${dir}/${entry}`);
      if (part) await stack(part, seen);
    }
  }
  for (const holder of await readdir(`${dir}/holders`).catch(() => [] as string[])) {
    const held = await devOf(`/sys/class/block/${holder}`);
    if (held) await stack(held, seen);
  }
  return seen;
}

/** A dm device's own name (e.g. vg-data, qrv-web), or its kernel name. */
async function displayName(dev: Dev): Promise<string> {
  const dm = (await readFile(`/sys/dev/block/${dev.id}/dm/name`, 'utf8').catch(() => '')).trim();
  return dm ? `${dev.name} (${dm})` : dev.name;
}

/**
 * Every use of `target` (an image file or a block device) found now; [] when nothing uses it or
 * it does not exist. Attached loop devices count as uses of an image even when nothing is mounted.
 */
export async function usesOf(target: string): Promise<DeviceUse[]> {
  const st = await stat(target).catch(() => null);
  if (!st) return [];
  const real = await realpath(target).catch(() => target);
  const uses: DeviceUse[] = [];
  const roots: string[] = [];
  if (st.isFile()) {
    for (const loop of await loopDevicesBackedBy(real)) {
      const id = majorMinor((await stat(loop)).rdev);
      roots.push(id);
      uses.push({ how: 'attached', where: loop, through: null });
    }
  } else if (st.isBlockDevice()) roots.push(majorMinor(st.rdev));
  const devices = new Map<string, Dev>();
  for (const id of roots) await stack(id, devices);
  const own = st.isBlockDevice() ? majorMinor(st.rdev) : null;
  const through = async (id: string): Promise<string | null> =>
    id === own ? null : displayName(devices.get(id) as Dev);

  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0 || fields.length < 5) continue;
    const point = unescape(fields[4] as string);
    const source = unescape(fields[dash + 2] ?? '');
    let id = devices.has(fields[2] as string) ? (fields[2] as string) : null;
    if (!id && source.startsWith('/dev/')) {
      const sourceStat = await stat(source).catch(() => null);
      const sourceId = sourceStat?.isBlockDevice() ? majorMinor(sourceStat.rdev) : null;
      if (sourceId && devices.has(sourceId)) id = sourceId;
    }
    if (id && !uses.some((u) => u.how === 'mounted' && u.where === point))
      uses.push({ how: 'mounted', where: point, through: await through(id) });
  }

  const swaps = await readFile('/proc/swaps', 'utf8').catch(() => '');
  for (const line of swaps.split('\n').slice(1)) {
    const area = unescape(line.split(/\s+/)[0] ?? '');
    if (!area) continue;
    const areaStat = await stat(area).catch(() => null);
    if (!areaStat) continue;
    if (st.isFile() && areaStat.isFile() && areaStat.ino === st.ino && areaStat.dev === st.dev)
      uses.push({ how: 'swap', where: area, through: null });
    else if (areaStat.isBlockDevice() && devices.has(majorMinor(areaStat.rdev)))
      uses.push({ how: 'swap', where: area, through: await through(majorMinor(areaStat.rdev)) });
  }

  // Devices stacked on it that nothing mounts still hold it (a dm table, an md array, a VM's kpartx maps).
  if (!uses.some((u) => u.how === 'mounted' || u.how === 'swap')) {
    for (const dev of devices.values()) {
      if (roots.includes(dev.id) || (await stat(`/sys/dev/block/${dev.id}/partition`).catch(() => null))) continue;
      uses.push({ how: 'held', where: await displayName(dev), through: null });
    }
  }
  return uses;
}

/** "mounted on /mnt/web (through /dev/loop3)", "used as swap", "held by dm-4 (crypt)", "attached to /dev/loop3". */
export function describeUse(use: DeviceUse): string {
  const via = use.through ? ` (through ${use.through.startsWith('/') ? use.through : `/dev/${use.through}`})` : '';
  switch (use.how) {
    case 'mounted':
      return `mounted on ${use.where}${via}`;
    case 'swap':
      return `used as swap (${use.where})${via}`;
    case 'held':
      return `held by ${use.where}, a device stacked on it`;
    case 'attached':
      return `attached to ${use.where}`;
  }
}

/** The uses that make writing under the volume unsafe now: mounts and swap, and devices stacked on it. */
export function activeUses(uses: DeviceUse[]): DeviceUse[] {
  return uses.filter((u) => u.how !== 'attached');
}
