// The `dm` provider: any block device (/dev/sdX, a partition, an LV, a loop device), taken over at
// `qrv volume add --provider dm --device DEV` by a qrv-owned device-mapper device, qrv-<volume>
// (linear over DEV), that the admin uses from then on (/dev/mapper/qrv-<volume>). A snapshot
// switches it to a snapshot-origin over qrv-<volume>-real and adds a read-only `snapshot` target
// whose persistent copy-on-write store is a sparse file (`<cowDir>/<volume>@<id>.cow`, cowPercent
// of the volume, default 20 %, attached to a loop device) or a device given as cowDevice. The
// last snapshot's removal switches the origin back to linear; `qrv volume remove` removes
// qrv-<volume> and leaves DEV as it was (no byte of it is written by qrv). Changed ranges come
// from the snapshots' exception stores (../cow/exception-store.ts). Names and UUIDs: ./dmsetup.ts.
// Every dmsetup / losetup / blockdev call goes through the tool wrapper with an argument array.
import fs from 'node:fs/promises';
import path from 'node:path';
import { mergeRanges, type ByteRange } from '../../copy/extent-map.ts';
import { QrvError } from '../../core/errors.ts';
import { tool, toolOk, type ToolResult } from '../../system/tools.ts';
import { chunkRanges, readExceptionStore } from '../cow/exception-store.ts';
import type { Activation, AdoptSetup, CreateOptions, HeldSnapshot, PreparedSnapshot, Provider, SnapshotHealth, SnapshotMade, SnapshotRef, VolumeFacts, VolumeRef } from '../provider.ts';
import { mountpointsOf } from '../../system/freeze.ts';
import { blockDeviceId, devicePathOf, holdersOf, loopBackingFile, majorMinor, withExclusive } from './devices.ts';
import {
  collidingName,
  dmsetupReason,
  INFO_ARGS,
  isSnapshotId,
  mapperPath,
  originName,
  originUuid,
  parseInfo,
  parseSnapshotStatus,
  parseTable,
  realName,
  realUuid,
  snapshotIdOfDevice,
  snapshotIdOfHandle,
  snapshotName,
  snapshotUuid,
  type DmDevice,
  type SnapshotStatus,
  type TableLine,
} from './dmsetup.ts';

export const METHOD = 'dm-snapshot';
/** Default size of a file COW store, in % of the volume. */
export const DEFAULT_COW_PERCENT = 20;
const MIN_COW_BYTES = 4 * 1024 * 1024;
/** Chunk size of the snapshots, in 512-byte sectors (4 KiB, as LVM's default). */
const CHUNK_SECTORS = 8;
const SECTOR = 512;

// ---- dmsetup -------------------------------------------------------------------------------

function dmFailed(args: string[], result: ToolResult): QrvError {
  const text = `${result.stderr}\n${result.stdout}`;
  if (/\/dev\/mapper\/control.*(Permission denied|Operation not permitted)/i.test(text)) return notRoot();
  if (/kernel device-mapper driver|No entry for device-mapper|device-mapper driver missing/i.test(text)) {
    return new QrvError('environment', 'no-device-mapper', 'this kernel has no device-mapper (dmsetup cannot talk to it)', 'load it with `modprobe dm-mod` (and dm-snapshot)');
  }
  const shown = args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
  return new QrvError('io', 'dmsetup-failed', `dmsetup ${shown} failed${dmsetupReason(text) ? `: ${dmsetupReason(text)}` : ''}`, 'run the command by hand (as root) to see the whole output');
}

async function dmsetup(args: string[]): Promise<string> {
  const result = await tool('dmsetup', args);
  if (result.exitCode !== 0) throw dmFailed(args, result);
  return result.stdout;
}

async function listDevices(): Promise<DmDevice[]> {
  const rows = parseInfo(await dmsetup(INFO_ARGS));
  if (!rows) throw new QrvError('io', 'dmsetup-failed', 'dmsetup info printed a report qrv does not understand', 'check the dmsetup version (1.02.110 or later is needed)');
  return rows;
}

async function table(name: string): Promise<TableLine> {
  const lines = parseTable(await dmsetup(['table', name]));
  if (!lines || lines.length !== 1) throw new QrvError('io', 'dm-state', `device-mapper device ${name} has a table qrv did not make`, `look at it with \`dmsetup table ${name}\``);
  return lines[0] as TableLine;
}

/** Creates a device (its node too, also where no udev makes it) with a one-line table. */
async function create(name: string, uuid: string, tableLine: string, readonly = false): Promise<void> {
  await dmsetup(['create', '--verifyudev', ...(readonly ? ['--readonly'] : []), name, '-u', uuid, '--table', tableLine]);
  if (await blockDeviceId(mapperPath(name))) return;
  await tool('dmsetup', ['mknodes', name]);
  if (await blockDeviceId(mapperPath(name))) return;
  await removeDevice(name).catch(() => undefined);
  throw new QrvError('io', 'no-device-node', `${mapperPath(name)} did not appear after dmsetup create`, 'check that udev runs (or that /dev is writable); nothing was left');
}

async function removeDevice(name: string): Promise<void> {
  await dmsetup(['remove', '--verifyudev', '--retry', name]);
}

/** Resumes the origin; a failure here leaves its I/O blocked, which must be said loudly. */
async function resume(name: string): Promise<void> {
  await dmsetup(['resume', name]).catch((error: QrvError) => {
    throw new QrvError('io', 'resume-failed', `${name} could not be resumed: its I/O is held (${error.message})`, `run \`dmsetup resume ${name}\` at once`);
  });
}

async function deviceBytes(devicePath: string): Promise<number> {
  const result = await toolOk('blockdev', ['--getsize64', devicePath]);
  const size = Number(result.stdout.trim());
  if (!Number.isSafeInteger(size) || size <= 0) throw new QrvError('io', 'volume-missing', `blockdev says ${devicePath} has no size ("${result.stdout.trim()}")`, 'check the device');
  return size;
}

// ---- checks --------------------------------------------------------------------------------

function notRoot(): QrvError {
  return new QrvError('environment', 'not-root', 'the dm provider needs root (it makes device-mapper devices)', 'run qrv as root (sudo)');
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw notRoot();
}

/** The volume's origin device, which must be qrv's own and active. */
async function ownOrigin(volume: VolumeRef, devices: DmDevice[]): Promise<DmDevice> {
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  if (origin) {
    if (origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
    return origin;
  }
  const device = volume.options.device;
  if (device && (await blockDeviceId(device))) {
    throw new QrvError('io', 'volume-inactive', `volume "${volume.name}": its device-mapper device ${name} is not active (after a reboot?); ${device} is there`, `re-create it with \`qrv volume activate ${volume.name}\` before using the volume (docs/providers.md, "after a reboot")`);
  }
  throw new QrvError('io', 'volume-missing', `volume "${volume.name}": neither ${mapperPath(name)} nor its device ${device ?? '(none recorded)'} exists`, `check the device, or remove the volume with \`qrv volume remove ${volume.name}\``);
}

function foreignDevice(name: string, uuid: string): QrvError {
  return new QrvError('refused', 'foreign-device', `device-mapper device ${name} is not qrv's (its UUID is "${uuid}")`, 'qrv leaves it alone; rename or remove it by hand if it is in the way');
}

function ownSnapshots(volume: VolumeRef, devices: DmDevice[]): Array<DmDevice & { snapshotId: string }> {
  return devices.flatMap((d) => {
    const snapshotId = snapshotIdOfDevice(volume.name, d);
    return snapshotId ? [{ ...d, snapshotId }] : [];
  });
}

/** Refuses a device that is mounted or held (by a dm table, md, ...): the kernel would say EBUSY. */
async function checkFree(devicePath: string, what: string, code: string, hint: string): Promise<void> {
  const points = await mountpointsOf([devicePath]);
  if (points.length) throw new QrvError('refused', code, `${what} ${devicePath} is mounted on ${points.join(', ')}`, hint);
  const id = await blockDeviceId(devicePath);
  const holders = id ? await holdersOf(id) : [];
  if (holders.length) throw new QrvError('refused', code, `${what} ${devicePath} is held by ${holders.join(', ')} (a device-mapper table or md array over it)`, hint);
}

function cowPercentOf(volume: VolumeRef): number {
  const percent = Number(volume.options.cowPercent ?? DEFAULT_COW_PERCENT);
  return Number.isFinite(percent) && percent > 0 && percent <= 100 ? percent : DEFAULT_COW_PERCENT;
}

export function cowFile(volume: VolumeRef, snapshotId: string): string | null {
  return volume.options.cowDir ? path.join(volume.options.cowDir, `${volume.name}@${snapshotId}.cow`) : null;
}

// ---- the provider --------------------------------------------------------------------------

async function inspect(volume: VolumeRef): Promise<VolumeFacts> {
  const origin = await ownOrigin(volume, await listDevices());
  return { sizeBytes: await deviceBytes(mapperPath(origin.name)), kind: 'block' };
}

function defaultOptions(): Record<string, string> {
  return { cowPercent: String(DEFAULT_COW_PERCENT) };
}

async function adopt(volume: VolumeRef, setup: AdoptSetup): Promise<VolumeRef> {
  requireRoot();
  const name = originName(volume.name);
  if (collidingName(volume.name)) {
    throw new QrvError('usage', 'bad-volume-name', `volume name "${volume.name}" cannot be a dm volume: its device ${name} would look like another volume's -real or -snap- device`, 'choose a name that does not end in "-real" and has no "-snap" in it');
  }
  const device = volume.options.device ?? volume.path;
  const st = await fs.stat(device).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError('io', 'volume-missing', `volume "${volume.name}": cannot use ${device} (${error.code ?? error.message})`, 'check the device path');
  });
  if (!st.isBlockDevice()) throw new QrvError('usage', 'not-a-block-device', `volume "${volume.name}": ${device} is not a block device`, 'the dm provider takes block devices (--device /dev/sdX); for an image file use --provider file');
  const devices = await listDevices();
  const id = await blockDeviceId(device);
  const qrvOwn = devices.find((d) => `${d.major}:${d.minor}` === id && d.uuid.startsWith('QRV-'));
  if (qrvOwn) throw new QrvError('refused', 'device-is-qrv', `${device} is qrv's own device ${qrvOwn.name}`, 'give the device under it (the one given at `qrv volume add`)');
  const busyHint = `unmount it (and stop what uses it), run \`qrv volume add ${volume.name} --provider dm --device ${device}\` again, then mount ${mapperPath(name)} instead`;
  await checkFree(device, 'device', 'device-busy', busyHint);
  const options: Record<string, string> = { ...volume.options, device, cowDir: volume.options.cowDir ?? path.join(setup.home, 'cow'), cowPercent: String(cowPercentOf(volume)) };
  const cowDevice = options.cowDevice;
  if (cowDevice) {
    const cowId = await blockDeviceId(cowDevice);
    if (!cowId) throw new QrvError('usage', 'not-a-block-device', `COW device ${cowDevice} is not a block device`, 'give --cow-device a block device that holds nothing you need (its start is overwritten at each snapshot)');
    if (cowId === id) throw new QrvError('usage', 'cow-device-is-volume', `the COW device ${cowDevice} is the volume's device itself`, 'give --cow-device another device, or leave it out for a COW file');
    await checkFree(cowDevice, 'COW device', 'cow-device-busy', 'give --cow-device a device that is not mounted or used');
  }
  const existing = devices.find((d) => d.name === name);
  if (existing) {
    throw new QrvError('refused', 'dm-name-taken', `a device-mapper device named ${name} exists already${existing.uuid === originUuid(volume.name) ? ' (qrv\'s, left from an earlier add?)' : ''}`, `if nothing uses it, remove it with \`dmsetup remove ${name}\`; or choose another volume name`);
  }
  const sectors = (await deviceBytes(device)) / SECTOR;
  try {
    // by major:minor: a path could hold characters a table line cannot
    await create(name, originUuid(volume.name), `0 ${sectors} linear ${id} 0`);
  } catch (error) {
    if (error instanceof QrvError && /busy/i.test(error.message)) throw new QrvError('refused', 'device-busy', `${device} is in use (the kernel says it is busy: mounted, swap, or opened exclusively)`, busyHint);
    throw error;
  }
  return { ...volume, path: mapperPath(name), options };
}

async function release(volume: VolumeRef): Promise<void> {
  requireRoot();
  const devices = await listDevices();
  const snapshots = ownSnapshots(volume, devices);
  if (snapshots.length) {
    throw new QrvError('refused', 'volume-has-snapshots', `volume "${volume.name}" still has device-mapper snapshots: ${snapshots.map((s) => s.name).join(', ')}`, 'remove them first with `qrv unsnap ID` (or `qrv doctor` for ones the catalog does not know)');
  }
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  const real = devices.find((d) => d.name === realName(volume.name));
  if (real && real.uuid !== realUuid(volume.name)) throw foreignDevice(real.name, real.uuid);
  if (origin) {
    if (origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
    if (origin.open > 0) {
      const points = await mountpointsOf([mapperPath(name)]);
      throw new QrvError('refused', 'device-busy', `${mapperPath(name)} is in use${points.length ? ` (mounted on ${points.join(', ')})` : ` (open ${origin.open} time(s))`}`, `unmount it and stop what uses it, then remove the volume; use ${volume.options.device ?? 'the device'} itself afterwards`);
    }
    await removeDevice(name);
  }
  if (real) await removeDevice(real.name);
}

/** The COW store of a new snapshot: a device given by the admin, or a sparse file on a loop device. */
async function makeCowStore(volume: VolumeRef, snapshotId: string, sizeBytes: number, undo: Array<() => Promise<void>>): Promise<string> {
  const given = volume.options.cowDevice;
  if (given) {
    // O_EXCL fails while a dm table (an earlier snapshot) or a mount holds it.
    await withExclusive(given, async (handle) => {
      // A store left from an earlier snapshot would be taken up again by `P`: start from zero.
      await handle.write(Buffer.alloc(4096), 0, 4096, 0);
      await handle.datasync();
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EBUSY') throw new QrvError('refused', 'cow-device-busy', `COW device ${given} is in use (by another snapshot, or mounted)`, 'remove the snapshot that uses it first (`qrv unsnap`): a COW device holds one snapshot at a time; or drop cowDevice for COW files');
      throw new QrvError('io', 'cow-device-unusable', `cannot use COW device ${given} (${error.code ?? error.message})`, 'check the device');
    });
    return given;
  }
  const file = cowFile(volume, snapshotId);
  if (!file) throw new QrvError('usage', 'no-cow-dir', `volume "${volume.name}" has no cowDir option`, `add it again with \`qrv volume add ... --cow-dir DIR\``);
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError('io', 'cow-dir-unusable', `cannot create the COW folder ${dir} (${error.code ?? error.message})`, 'check the volume\'s cowDir option');
  });
  // A COW file on the volume itself would make every copy-on-write a write to the volume.
  const [dirStat, originId] = await Promise.all([fs.stat(dir), blockDeviceId(mapperPath(originName(volume.name)))]);
  if (originId && majorMinor(dirStat.dev) === originId) {
    throw new QrvError('refused', 'cow-on-volume', `the COW folder ${dir} is on volume "${volume.name}" itself`, 'set cowDir to a folder on another filesystem (qrv volume add ... --cow-dir DIR)');
  }
  const bytes = Math.max(MIN_COW_BYTES, Math.ceil((sizeBytes * cowPercentOf(volume)) / 100 / 4096) * 4096);
  const handle = await fs.open(file, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError('io', 'cow-file-unusable', `cannot create the COW file ${file} (${error.code ?? error.message})`, error.code === 'EEXIST' ? 'it is left from an earlier snapshot with this id: remove it if no loop device uses it (losetup -j FILE)' : 'check the COW folder');
  });
  undo.push(() => fs.rm(file, { force: true }));
  try {
    await handle.truncate(bytes);
  } catch (error) {
    throw new QrvError('io', 'cow-file-unusable', `cannot size the COW file ${file} to ${bytes} bytes (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'free space in the COW folder');
  } finally {
    await handle.close();
  }
  const loop = (await toolOk('losetup', ['-f', '--show', file])).stdout.trim();
  undo.push(async () => void (await tool('losetup', ['-d', loop])));
  if (!(await blockDeviceId(loop))) throw new QrvError('io', 'no-loop-device', `losetup attached ${file} to "${loop}", which is no block device`, 'check `losetup -a`');
  return loop;
}

/** A prepared snapshot, handed from prepareSnapshot to createSnapshot by the engine. */
class PreparedDm implements PreparedSnapshot {
  constructor(readonly attachment: Attachment) {}
  async discard(): Promise<void> {
    await undone(this.attachment, null);
  }
}

function checkSnapshotId(snapshotId: string): void {
  if (!isSnapshotId(snapshotId)) throw new QrvError('usage', 'bad-snapshot-id', `"${snapshotId}" is not a snapshot id`, 'snapshot ids are s- and eight hex digits');
}

/** Everything but the switch, before the engine freezes the volume: the COW store, -real. */
async function prepareSnapshot(volume: VolumeRef, snapshotId: string): Promise<PreparedSnapshot> {
  requireRoot();
  checkSnapshotId(snapshotId);
  return new PreparedDm(await prepareAttach(volume, snapshotId, (sizeBytes, undo) => makeCowStore(volume, snapshotId, sizeBytes, undo), 'not made'));
}

async function createSnapshot(volume: VolumeRef, snapshotId: string, options?: CreateOptions): Promise<SnapshotMade> {
  requireRoot();
  checkSnapshotId(snapshotId);
  const prepared = options?.prepared instanceof PreparedDm && options.prepared.attachment.snapshotId === snapshotId ? options.prepared.attachment : null;
  const attachment = prepared ?? (await prepareAttach(volume, snapshotId, (sizeBytes, undo) => makeCowStore(volume, snapshotId, sizeBytes, undo), 'not made'));
  return finishAttach(attachment, options?.frozen ?? false);
}

/** The COW store of a snapshot made before (after a reboot): its file on a new loop device, or the COW device. */
async function existingCowStore(volume: VolumeRef, snapshotId: string, undo: Array<() => Promise<void>>): Promise<string> {
  const given = volume.options.cowDevice;
  if (given) {
    await withExclusive(given, async () => undefined).catch((error: NodeJS.ErrnoException) => {
      throw new QrvError(error.code === 'EBUSY' ? 'refused' : 'io', error.code === 'EBUSY' ? 'cow-device-busy' : 'cow-device-unusable', `COW device ${given} of snapshot ${snapshotId} cannot be used (${error.code ?? error.message})`, 'check the device');
    });
    // A device without a store would be taken as a new, empty one: a snapshot of today's data.
    await readExceptionStore(given);
    return given;
  }
  const file = cowFile(volume, snapshotId);
  if (!file || !(await fs.stat(file).catch(() => null))?.isFile()) {
    throw new QrvError('io', 'cow-missing', `the COW file of snapshot ${snapshotId} (${file ?? 'no cowDir'}) is gone`, `the snapshot is lost: \`qrv unsnap ${snapshotId}\` removes its catalog row`);
  }
  await readExceptionStore(file);
  const loop = (await toolOk('losetup', ['-f', '--show', file])).stdout.trim();
  undo.push(async () => void (await tool('losetup', ['-d', loop])));
  return loop;
}

/** What is made before the origin is suspended: checked state, the COW store, -real. */
interface Attachment {
  volume: VolumeRef;
  snapshotId: string;
  origin: string;
  sizeBytes: number;
  linear: boolean;
  name: string;
  cow: string;
  /** undoes what was made, newest first */
  undo: Array<() => Promise<void>>;
  failed: string;
}

/**
 * The part of a snapshot that needs no suspend: the origin checked, the COW store made (or
 * opened), -real made if needed. Kept out of the freeze window (prepareSnapshot). A failure
 * removes what was made.
 */
async function prepareAttach(volume: VolumeRef, snapshotId: string, store: (sizeBytes: number, undo: Array<() => Promise<void>>) => Promise<string>, failed: string): Promise<Attachment> {
  const devices = await listDevices();
  const origin = await ownOrigin(volume, devices);
  const sizeBytes = await deviceBytes(mapperPath(origin.name));
  const sectors = sizeBytes / SECTOR;
  const originTable = await table(origin.name);
  const real = devices.find((d) => d.name === realName(volume.name));
  if (real && real.uuid !== realUuid(volume.name)) throw foreignDevice(real.name, real.uuid);
  const linear = originTable.target === 'linear';
  if (!linear && !(originTable.target === 'snapshot-origin' && real)) {
    throw new QrvError('io', 'dm-state', `${origin.name} is a ${originTable.target} device${real ? '' : ` without ${realName(volume.name)}`}: not what qrv left`, `look at \`dmsetup table\`; \`qrv doctor\` lists what qrv holds`);
  }
  const name = snapshotName(volume.name, snapshotId);
  if (devices.some((d) => d.name === name)) throw new QrvError('refused', 'dm-name-taken', `a device-mapper device named ${name} exists already`, `remove it with \`dmsetup remove ${name}\` if it is a left-over`);
  const undo: Array<() => Promise<void>> = [];
  try {
    const cow = await store(sizeBytes, undo);
    if (!real) {
      // Linear over what the origin maps now (major:minor and offset from its live table).
      await create(realName(volume.name), realUuid(volume.name), `0 ${sectors} linear ${originTable.args.join(' ')}`);
      undo.push(() => removeDevice(realName(volume.name)));
    }
    return { volume, snapshotId, origin: origin.name, sizeBytes, linear, name, cow, undo, failed };
  } catch (error) {
    throw await undone({ volume, snapshotId, undo, failed }, error);
  }
}

/** Undoes what an attachment made and says so in the error. */
async function undone(attachment: Pick<Attachment, 'volume' | 'snapshotId' | 'undo' | 'failed'>, error: unknown): Promise<unknown> {
  for (const step of attachment.undo.reverse()) await step().catch(() => undefined);
  attachment.undo.length = 0;
  if (error instanceof QrvError) {
    return new QrvError(error.exit, error.code, `snapshot ${attachment.snapshotId} of volume "${attachment.volume.name}" ${attachment.failed} (what was made is removed again): ${error.message}`, error.hint, { cause: error });
  }
  return error;
}

/**
 * Puts the snapshot target over the origin: the origin suspended, the snapshot created over the
 * prepared COW store, the origin switched to snapshot-origin if it was linear, and resumed
 * (always). `suspendedMs` is the time from the suspend to the end of the resume. A failure
 * removes what was made (the prepared parts too).
 */
async function finishAttach(attachment: Attachment, frozen: boolean): Promise<SnapshotMade> {
  const { volume, snapshotId, origin, sizeBytes, linear, name, cow, undo } = attachment;
  const sectors = sizeBytes / SECTOR;
  try {
    // Suspending the origin flushes its I/O and freezes a filesystem mounted on it (lockfs),
    // unless the engine froze it already (FIFREEZE, e.g. for a whole group): dm cannot freeze it
    // a second time (EBUSY), so then the suspend only flushes (--nolockfs).
    const started = process.hrtime.bigint();
    await dmsetup(frozen ? ['suspend', '--nolockfs', origin] : ['suspend', origin]);
    let reloaded = false;
    let failure: unknown;
    try {
      await create(name, snapshotUuid(volume.name, snapshotId), `0 ${sectors} snapshot ${mapperPath(realName(volume.name))} ${cow} P ${CHUNK_SECTORS}`, true);
      undo.push(() => removeDevice(name));
      if (linear) {
        reloaded = true;
        await dmsetup(['reload', origin, '--table', `0 ${sectors} snapshot-origin ${mapperPath(realName(volume.name))}`]);
      }
    } catch (error) {
      failure = error;
      // A failed reload leaves no inactive table; clear one anyway so that resume keeps the old.
      if (reloaded) await tool('dmsetup', ['clear', origin]).catch(() => undefined);
    }
    await resume(origin); // always; a failure here is thrown as it is (nothing undone)
    const suspendedMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (failure) throw failure;
    return { handle: name, path: mapperPath(name), sizeBytes, method: METHOD, suspendedMs };
  } catch (error) {
    if (error instanceof QrvError && error.code === 'resume-failed') throw error;
    throw await undone(attachment, error);
  }
}

/**
 * Removes this volume's snapshot device `remove` (if given, under a suspended origin); when no
 * snapshot is left, switches the origin back to linear and removes -real.
 */
async function detach(volume: VolumeRef, devices: DmDevice[], remove: string | null): Promise<void> {
  const origin = devices.find((d) => d.name === originName(volume.name) && d.uuid === originUuid(volume.name));
  const real = devices.find((d) => d.name === realName(volume.name) && d.uuid === realUuid(volume.name));
  const left = ownSnapshots(volume, devices).filter((s) => s.name !== remove);
  const originTable = origin ? await table(origin.name) : null;
  const restore = left.length === 0 && real !== undefined && originTable?.target === 'snapshot-origin';
  const realTable = restore && real ? await table(real.name) : null;
  if (!remove && !restore) {
    if (left.length === 0 && real && originTable?.target !== 'snapshot-origin') await removeDevice(real.name).catch(() => undefined);
    return;
  }
  const removed = remove ? devices.find((d) => d.name === remove) : undefined;
  if (removed && removed.open > 0) {
    throw new QrvError('busy', 'snapshot-busy', `snapshot ${remove} is in use (mounted, or a copy reads it)`, 'unmount it or wait for the copy, then remove it again');
  }
  // Only the table changes, no point in time is taken: the filesystem need not be frozen (and
  // one frozen by someone else would make a lockfs suspend fail).
  if (origin) await dmsetup(['suspend', '--nolockfs', origin.name]);
  let failure: unknown;
  try {
    // No --retry here: the origin is suspended meanwhile.
    if (remove) await dmsetup(['remove', '--verifyudev', remove]);
    if (restore && origin && realTable) await dmsetup(['reload', origin.name, '--table', `0 ${realTable.length} linear ${realTable.args.join(' ')}`]);
  } catch (error) {
    failure = error;
  }
  if (origin) await resume(origin.name);
  if (failure) {
    if (failure instanceof QrvError && /busy/i.test(failure.message) && remove) {
      throw new QrvError('busy', 'snapshot-busy', `snapshot ${remove} is in use (mounted, or a copy reads it)`, `unmount it or wait for the copy, then remove it again`);
    }
    throw failure;
  }
  if (restore && real) await removeDevice(real.name);
}

/** Detaches the loop device of a snapshot's COW file and deletes the file (a COW device is left). */
async function releaseCow(volume: VolumeRef, snapshotId: string, cowId: string | null): Promise<void> {
  const given = cowFile(volume, snapshotId);
  if (!given) return;
  // losetup records the canonical path of the file
  const file = await fs.realpath(given).catch(() => given);
  const loops = new Set<string>();
  if (cowId && (await loopBackingFile(cowId)) === file) {
    const loop = await devicePathOf(cowId);
    if (loop) loops.add(loop);
  }
  for (const name of await fs.readdir('/sys/block').catch(() => [] as string[])) {
    if (!name.startsWith('loop')) continue;
    const backing = await fs.readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
    if (backing.trim() === file) loops.add(`/dev/${name}`);
  }
  for (const loop of loops) await toolOk('losetup', ['-d', loop]);
  await fs.rm(given, { force: true });
}

async function removeSnapshot(volume: VolumeRef, handle: string): Promise<void> {
  const snapshotId = snapshotIdOfHandle(volume.name, handle);
  if (!snapshotId) throw new QrvError('refused', 'foreign-handle', `${handle} is not a qrv snapshot of volume "${volume.name}"`, 'remove it by hand (dmsetup remove) if it is really a qrv snapshot');
  requireRoot();
  const devices = await listDevices();
  const snapshot = devices.find((d) => d.name === handle);
  if (snapshot && snapshot.uuid !== snapshotUuid(volume.name, snapshotId)) {
    throw new QrvError('refused', 'foreign-handle', `device-mapper device ${handle} is not qrv's (its UUID is "${snapshot.uuid}")`, 'qrv leaves it alone; remove it by hand if it is really a qrv snapshot');
  }
  let cowId: string | null = null;
  if (snapshot) {
    const line = await table(handle);
    if (line.target === 'snapshot') cowId = line.args[1] ?? null;
  }
  await detach(volume, devices, snapshot ? handle : null);
  await releaseCow(volume, snapshotId, cowId);
}

async function listSnapshots(volume: VolumeRef): Promise<HeldSnapshot[]> {
  return ownSnapshots(volume, await listDevices()).map((s) => ({ handle: s.name, path: mapperPath(s.name), snapshotId: s.snapshotId }));
}

async function snapshotStatus(handle: string): Promise<SnapshotStatus> {
  const result = await tool('dmsetup', ['status', handle]);
  if (result.exitCode !== 0) {
    if (/does not exist/i.test(result.stderr)) throw new QrvError('io', 'snapshot-missing', `snapshot device ${handle} is not active`, '`qrv doctor` compares the catalog with what the kernel holds');
    throw dmFailed(['status', handle], result);
  }
  const status = parseSnapshotStatus(result.stdout);
  if (!status) throw new QrvError('io', 'dm-state', `${handle} is not a snapshot target (dmsetup status: ${result.stdout.trim()})`, `look at \`dmsetup table ${handle}\``);
  return status;
}

async function snapshotHealth(volume: VolumeRef, snapshot: SnapshotRef): Promise<SnapshotHealth> {
  if (!snapshotIdOfHandle(volume.name, snapshot.handle)) throw new QrvError('refused', 'foreign-handle', `${snapshot.handle} is not a qrv snapshot of volume "${volume.name}"`, 'check the snapshot row');
  const status = await snapshotStatus(snapshot.handle);
  if (status.state === 'active') return { invalid: false, usedPercent: (status.usedSectors / status.totalSectors) * 100 };
  return { invalid: true, usedPercent: status.state === 'overflow' ? 100 : null };
}

/** The COW device of an active snapshot of this volume (the loop device, or the given device). */
async function cowDeviceOf(handle: string): Promise<string | null> {
  const line = await table(handle);
  const id = line.target === 'snapshot' ? line.args[1] : undefined;
  return id && /^\d+:\d+$/.test(id) ? devicePathOf(id) : null;
}

async function changedRanges(volume: VolumeRef, from: SnapshotRef, to: SnapshotRef): Promise<ByteRange[] | null> {
  const refs = [from, to];
  if (refs.some((s) => s.method !== METHOD || !snapshotIdOfHandle(volume.name, s.handle))) return null;
  try {
    const ranges: ByteRange[] = [];
    for (const ref of refs) {
      if ((await snapshotStatus(ref.handle)).state !== 'active') return null;
      const cow = await cowDeviceOf(ref.handle);
      if (!cow) return null;
      const store = await readExceptionStore(cow);
      if (!store.valid) return null;
      ranges.push(...chunkRanges(store.chunks, store.chunkBytes, to.sizeBytes));
    }
    return mergeRanges(ranges);
  } catch {
    return null;
  }
}

/**
 * After a reboot (the kernel's tables are gone): makes qrv-<volume> over the device again and
 * attaches each of `snapshotIds` over its persistent COW store, which the kernel reads back
 * (`P`). Only right if nothing wrote to the device itself in between (docs/providers.md).
 */
async function activate(volume: VolumeRef, snapshotIds: string[]): Promise<Activation> {
  requireRoot();
  const devices = await listDevices();
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  if (origin && origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
  let originCreated = false;
  if (!origin) {
    const device = volume.options.device;
    if (!device || !(await blockDeviceId(device))) throw new QrvError('io', 'volume-missing', `volume "${volume.name}": its device ${device ?? '(none recorded)'} is not there`, 'check the device (its name may have changed: /dev/disk/by-id/ names do not)');
    await checkFree(device, 'device', 'device-busy', `unmount it and stop what uses it, then activate again and mount ${mapperPath(name)}`);
    const real = devices.find((d) => d.name === realName(volume.name));
    if (real) throw new QrvError('refused', 'dm-state', `${real.name} exists without ${name}`, `remove it with \`dmsetup remove ${real.name}\` if nothing uses it`);
    await create(name, originUuid(volume.name), `0 ${(await deviceBytes(device)) / SECTOR} linear ${await blockDeviceId(device)} 0`);
    originCreated = true;
  }
  const result: Activation = { originCreated, attached: [], active: [], failed: [] };
  for (const snapshotId of snapshotIds) {
    if (devices.some((d) => d.name === snapshotName(volume.name, snapshotId))) {
      result.active.push(snapshotId);
      continue;
    }
    try {
      await finishAttach(await prepareAttach(volume, snapshotId, (_size, undo) => existingCowStore(volume, snapshotId, undo), 'not attached again'), false);
      result.attached.push(snapshotId);
    } catch (error) {
      if (error instanceof QrvError && error.code === 'resume-failed') throw error;
      result.failed.push({ snapshotId, reason: (error as Error).message });
    }
  }
  return result;
}

export const dmProvider: Provider = {
  name: 'dm',
  description: 'any block device (--device /dev/sdX), put under a qrv device-mapper device /dev/mapper/qrv-NAME; dm snapshot targets over a COW file (cowPercent of the volume, default 20 %) or --cow-device',
  inspect,
  defaultOptions,
  prepareSnapshot,
  createSnapshot,
  removeSnapshot,
  listSnapshots,
  activate,
  changedRanges,
  snapshotHealth,
  adopt,
  release,
};
