// What the dm provider reads from dmsetup, as pure functions (tested against output captured in
// the VM lane, fixtures/dmsetup/), and the names and UUIDs qrv gives its device-mapper devices:
//
//   qrv-<volume>                  the origin the admin uses: linear over the device, or
//                                 snapshot-origin over qrv-<volume>-real while snapshots exist
//   qrv-<volume>-real             linear over the device, under the origin and the snapshots
//   qrv-<volume>-snap-<snapshot>  a read-only snapshot target (its COW store: a loop device over
//                                 a file, or a device of the admin's)
//
// with UUIDs QRV-<volume>, QRV-<volume>-real, QRV-<volume>-snap-<snapshot>: qrv touches only
// devices whose name and UUID both say they are its own.

/** A snapshot id as qrv makes them (src/core/ids.ts). */
const SNAPSHOT_ID = /^s-(?:[0-9a-f]{8}|[0-9a-f]{12})$/;

export const originName = (volume: string): string => `qrv-${volume}`;
export const realName = (volume: string): string => `qrv-${volume}-real`;
export const snapshotName = (volume: string, snapshotId: string): string => `qrv-${volume}-snap-${snapshotId}`;
export const originUuid = (volume: string): string => `QRV-${volume}`;
export const realUuid = (volume: string): string => `QRV-${volume}-real`;
export const snapshotUuid = (volume: string, snapshotId: string): string => `QRV-${volume}-snap-${snapshotId}`;
export const mapperPath = (name: string): string => `/dev/mapper/${name}`;

export function isSnapshotId(id: string): boolean {
  return SNAPSHOT_ID.test(id);
}

/**
 * Volume names whose devices would collide with another volume's: "a-real" is volume a's
 * -real device, "a-snap-..." looks like one of a's snapshots.
 */
export function collidingName(volume: string): boolean {
  return /-real$|-snap(-|$)/.test(volume);
}

/** The snapshot id in a handle (a dm name) of this volume's snapshots, or null. */
export function snapshotIdOfHandle(volume: string, handle: string): string | null {
  const prefix = `qrv-${volume}-snap-`;
  if (!handle.startsWith(prefix)) return null;
  const id = handle.slice(prefix.length);
  return isSnapshotId(id) ? id : null;
}

/** One row of `dmsetup info -c --noheadings --separator '|' -o INFO_FIELDS`. */
export interface DmDevice {
  name: string;
  /** '' when the device has none */
  uuid: string;
  /** how many times it is open (a mount, a table over it, a process) */
  open: number;
  major: number;
  minor: number;
}

/** Fields of the info report, name last (the one most likely to hold odd characters). */
export const INFO_FIELDS = 'open,major,minor,uuid,name';
export const INFO_ARGS = ['info', '-c', '--noheadings', '--separator', '|', '-o', INFO_FIELDS];

/**
 * Parses the info report; null when a line is not what INFO_ARGS prints. "No devices found"
 * (printed when there are none) is an empty list.
 */
export function parseInfo(output: string): DmDevice[] | null {
  const rows: DmDevice[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '' || line.trim() === 'No devices found') continue;
    const parts = line.split('|');
    if (parts.length < 5) return null;
    const [open, major, minor] = parts.slice(0, 3).map((p) => (/^\d+$/.test(p.trim()) ? Number(p.trim()) : NaN)) as [
      number,
      number,
      number,
    ];
    if ([open, major, minor].some((n) => Number.isNaN(n))) return null;
    const name = parts.slice(4).join('|');
    if (!name) return null;
    rows.push({ name, uuid: parts[3] as string, open, major, minor });
  }
  return rows;
}

/** The snapshot id of one of this volume's snapshot devices (by name and UUID), or null. */
export function snapshotIdOfDevice(volume: string, device: DmDevice): string | null {
  const id = snapshotIdOfHandle(volume, device.name);
  return id && device.uuid === snapshotUuid(volume, id) ? id : null;
}

/** One line of a device's table: `<start> <length> <target> <args...>`, in sectors. */
export interface TableLine {
  start: number;
  length: number;
  target: string;
  args: string[];
}

/** Parses `dmsetup table NAME` (one line per segment); null when it is not a table. */
export function parseTable(output: string): TableLine[] | null {
  const lines: TableLine[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [start, length, target, ...args] = line.trim().split(/\s+/);
    if (!start || !length || !target || !/^\d+$/.test(start) || !/^\d+$/.test(length)) return null;
    lines.push({ start: Number(start), length: Number(length), target, args });
  }
  return lines;
}

/** What `dmsetup status` says of a snapshot target. */
export type SnapshotStatus =
  | { state: 'active'; usedSectors: number; totalSectors: number; metadataSectors: number }
  /** the kernel dropped the snapshot (its store overflowed, or an I/O error) */
  | { state: 'invalid' }
  /** the store overflowed */
  | { state: 'overflow' }
  | { state: 'merge-failed' };

/**
 * Parses `dmsetup status NAME` of a snapshot (drivers/md/dm-snap.c, snapshot_status):
 * `0 S snapshot <used>/<total> <metadata>`, `0 S snapshot Invalid`, `... Overflow`,
 * `... Merge failed`. null when it is not a snapshot's status.
 */
export function parseSnapshotStatus(output: string): SnapshotStatus | null {
  const match = /^\d+ \d+ snapshot (.*?)\s*$/.exec(output.trim().split('\n')[0] ?? '');
  if (!match) return null;
  const rest = match[1] as string;
  if (rest === 'Invalid') return { state: 'invalid' };
  if (rest === 'Overflow') return { state: 'overflow' };
  if (rest === 'Merge failed') return { state: 'merge-failed' };
  const usage = /^(\d+)\/(\d+) (\d+)$/.exec(rest);
  if (!usage) return null;
  const [usedSectors, totalSectors, metadataSectors] = usage.slice(1).map(Number) as [number, number, number];
  if (totalSectors === 0) return null;
  return { state: 'active', usedSectors, totalSectors, metadataSectors };
}

/**
 * The first line of what dmsetup said that explains a failure ("device-mapper: reload ioctl on
 * qrv-b (253:3) failed: Device or resource busy"), without its closing "Command failed.".
 */
export function dmsetupReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'Command failed.');
  return lines.find((l) => /failed|error|not|denied|busy/i.test(l)) ?? lines[0] ?? '';
}
