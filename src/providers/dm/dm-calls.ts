// The dm provider's calls to device-mapper: dmsetup through the tool wrapper (argument arrays),
// its failures turned into one-line errors, and the checks every operation makes first (root,
// the volume's own origin device, a device nobody holds).
import { QrvError, type ErrorCode } from '../../core/errors.ts';
import { notRoot, requireRoot as requireRootFor, tool, toolOk, type ToolResult } from '../../system/tools.ts';
import type { VolumeRef } from '../provider.ts';
import { mountpointsOf } from '../../system/freeze.ts';
import { blockDeviceId, holdersOf } from './devices.ts';
import {
  dmsetupReason,
  INFO_ARGS,
  mapperPath,
  originName,
  originUuid,
  parseInfo,
  parseSnapshotStatus,
  parseTable,
  snapshotIdOfDevice,
  type DmDevice,
  type SnapshotStatus,
  type TableLine,
} from './dmsetup.ts';

export const SECTOR = 512;
const ROOT = 'the dm provider needs root (it makes device-mapper devices)';

export function dmFailed(args: string[], result: ToolResult): QrvError {
  const text = `${result.stderr}\n${result.stdout}`;
  if (/\/dev\/mapper\/control.*(Permission denied|Operation not permitted)/i.test(text)) return notRoot(ROOT);
  if (/kernel device-mapper driver|No entry for device-mapper|device-mapper driver missing/i.test(text)) {
    return new QrvError(
      'environment',
      'no-device-mapper',
      'this kernel has no device-mapper (dmsetup cannot talk to it)',
      'load it with `modprobe dm-mod` (and dm-snapshot)',
    );
  }
  const shown = args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
  return new QrvError(
    'io',
    'dmsetup-failed',
    `dmsetup ${shown} failed${dmsetupReason(text) ? `: ${dmsetupReason(text)}` : ''}`,
    'run the command by hand (as root) to see the whole output',
  );
}

export async function dmsetup(args: string[]): Promise<string> {
  const result = await tool('dmsetup', args);
  if (result.exitCode !== 0) throw dmFailed(args, result);
  return result.stdout;
}

export async function listDevices(): Promise<DmDevice[]> {
  const rows = parseInfo(await dmsetup(INFO_ARGS));
  if (!rows)
    throw new QrvError(
      'io',
      'dmsetup-failed',
      'dmsetup info printed a report qrv does not understand',
      'check the dmsetup version (1.02.110 or later is needed)',
    );
  return rows;
}

export async function table(name: string): Promise<TableLine> {
  const line = await liveTable(name);
  if (!line)
    throw new QrvError(
      'io',
      'dm-state',
      `device-mapper device ${name} has no live table`,
      `look at it with \`dmsetup info ${name}\``,
    );
  return line;
}

/** The one-line live table of a device; null when it has none (a create killed before its load). */
export async function liveTable(name: string): Promise<TableLine | null> {
  const lines = parseTable(await dmsetup(['table', name]));
  if (!lines || lines.length > 1)
    throw new QrvError(
      'io',
      'dm-state',
      `device-mapper device ${name} has a table qrv did not make`,
      `look at it with \`dmsetup table ${name}\``,
    );
  return lines[0] ?? null;
}

/** Whether a device is suspended or has a loaded table not yet live (`dmsetup info -o attr`: e.g. "LIsw"). */
export async function deviceState(name: string): Promise<{ suspended: boolean; inactiveTable: boolean }> {
  const attr = (await dmsetup(['info', '-c', '--noheadings', '-o', 'attr', name])).trim();
  if (!/^[L-][I-][s-][rw]/.test(attr))
    throw new QrvError(
      'io',
      'dmsetup-failed',
      `dmsetup info printed attributes qrv does not understand ("${attr}")`,
      'check the dmsetup version',
    );
  return { suspended: attr[2] === 's', inactiveTable: attr[1] === 'I' };
}

/** Creates a device (its node too, also where no udev makes it) with a one-line table. */
export async function create(name: string, uuid: string, tableLine: string, readonly = false): Promise<void> {
  await dmsetup([
    'create',
    '--verifyudev',
    ...(readonly ? ['--readonly'] : []),
    name,
    '-u',
    uuid,
    '--table',
    tableLine,
  ]);
  if (await blockDeviceId(mapperPath(name))) return;
  await tool('dmsetup', ['mknodes', name]);
  if (await blockDeviceId(mapperPath(name))) return;
  await removeDevice(name).catch(() => undefined);
  throw new QrvError(
    'io',
    'no-device-node',
    `${mapperPath(name)} did not appear after dmsetup create`,
    'check that udev runs (or that /dev is writable); nothing was left',
  );
}

export async function removeDevice(name: string): Promise<void> {
  await dmsetup(['remove', '--verifyudev', '--retry', name]);
}

/** Resumes the origin; a failure here leaves its I/O blocked, which must be said loudly. */
export async function resume(name: string): Promise<void> {
  await dmsetup(['resume', name]).catch((error: QrvError) => {
    throw new QrvError(
      'io',
      'resume-failed',
      `${name} could not be resumed: its I/O is held (${error.message})`,
      `run \`dmsetup resume ${name}\` at once`,
    );
  });
}

export async function deviceBytes(devicePath: string): Promise<number> {
  const result = await toolOk('blockdev', ['--getsize64', devicePath]);
  const size = Number(result.stdout.trim());
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new QrvError(
      'io',
      'volume-missing',
      `blockdev says ${devicePath} has no size ("${result.stdout.trim()}")`,
      'check the device',
    );
  return size;
}

// ---- checks --------------------------------------------------------------------------------

export function requireRoot(): void {
  requireRootFor(ROOT);
}

/** The volume's origin device, which must be qrv's own and active. */
export async function ownOrigin(volume: VolumeRef, devices: DmDevice[]): Promise<DmDevice> {
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  if (origin) {
    if (origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
    return origin;
  }
  const device = volume.options.device;
  if (device && (await blockDeviceId(device))) {
    throw new QrvError(
      'io',
      'volume-inactive',
      `volume "${volume.name}": its device-mapper device ${name} is not active (after a reboot?); ${device} is there`,
      `re-create it with \`qrv volume activate ${volume.name}\` before using the volume (docs/providers.md, "after a reboot")`,
    );
  }
  throw new QrvError(
    'io',
    'volume-missing',
    `volume "${volume.name}": neither ${mapperPath(name)} nor its device ${device ?? '(none recorded)'} exists`,
    `check the device, or remove the volume with \`qrv volume remove ${volume.name}\``,
  );
}

export function foreignDevice(name: string, uuid: string): QrvError {
  return new QrvError(
    'refused',
    'foreign-device',
    `device-mapper device ${name} is not qrv's (its UUID is "${uuid}")`,
    'qrv leaves it alone; rename or remove it by hand if it is in the way',
  );
}

export function ownSnapshots(volume: VolumeRef, devices: DmDevice[]): Array<DmDevice & { snapshotId: string }> {
  return devices.flatMap((d) => {
    const snapshotId = snapshotIdOfDevice(volume.name, d);
    return snapshotId ? [{ ...d, snapshotId }] : [];
  });
}

/** Refuses a device that is mounted or held (by a dm table, md, ...): the kernel would say EBUSY. */
export async function checkFree(devicePath: string, what: string, code: ErrorCode, hint: string): Promise<void> {
  const points = await mountpointsOf([devicePath]);
  if (points.length)
    throw new QrvError('refused', code, `${what} ${devicePath} is mounted on ${points.join(', ')}`, hint);
  const id = await blockDeviceId(devicePath);
  const holders = id ? await holdersOf(id) : [];
  if (holders.length)
    throw new QrvError(
      'refused',
      code,
      `${what} ${devicePath} is held by ${holders.join(', ')} (a device-mapper table or md array over it)`,
      hint,
    );
}

/** `dmsetup status` of a snapshot device: used/total COW sectors, or invalid. */
export async function snapshotStatus(handle: string): Promise<SnapshotStatus> {
  const result = await tool('dmsetup', ['status', handle]);
  if (result.exitCode !== 0) {
    if (/does not exist/i.test(result.stderr))
      throw new QrvError(
        'io',
        'snapshot-missing',
        `snapshot device ${handle} is not active`,
        '`qrv doctor` compares the catalog with what the kernel holds',
      );
    throw dmFailed(['status', handle], result);
  }
  const status = parseSnapshotStatus(result.stdout);
  if (!status)
    throw new QrvError(
      'io',
      'dm-state',
      `${handle} is not a snapshot target (dmsetup status: ${result.stdout.trim()})`,
      `look at \`dmsetup table ${handle}\``,
    );
  return status;
}
