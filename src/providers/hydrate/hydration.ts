// Instant recovery of a device-mapper volume (dm and lvm providers): the volume's device becomes a
// mirror that reads the copy at once while the kernel copies it onto the volume's own data
// (./mirror.ts says how), and, once the copy is done, becomes what it was again. Every step is a
// small dmsetup/losetup call with an argument array; what a step made is undone when a later one
// fails. A reboot loses the devices, not the files: attachHydration(…, 'again') makes them anew
// over the same COW store and region log, and the kernel goes on where it stopped.
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../../core/errors.ts';
import { tool, toolOk } from '../../system/tools.ts';
import { blockDeviceId, devicePathOf } from '../dm/devices.ts';
import { create, dmsetup, removeDevice, resume } from '../dm/dm-calls.ts';
import { parseTable } from '../dm/dmsetup.ts';
import {
  cowBytes,
  hydrationNames,
  hydrationUuid,
  logBytes,
  mirrorTable,
  parseMirrorStatus,
  SECTOR,
  sourceTable,
  type MirrorStatus,
} from './mirror.ts';

/** One instant recovery, as the catalog records it on the volume. */
export interface HydrationSpec {
  /** names its helper devices and files (the recovery job's id) */
  id: string;
  /** the volume's block device (/dev/mapper/…, /dev/VG/LV) */
  device: string;
  /** the copy: its image file or block device */
  image: string;
  sizeBytes: number;
  /** folder of the COW store and region log (the home's hydrate/, 0700) */
  dir: string;
}

/** `unattached` is the catalog's (src/services/instant.ts): a mirror never made. */
export type HydrationState = 'copying' | 'synced' | 'switched' | 'inactive' | 'failed' | 'unattached';

export interface HydrationProgress {
  state: HydrationState;
  /** bytes the kernel has copied onto the volume (regions in sync) */
  doneBytes: number;
  sizeBytes: number;
  status: MirrorStatus | null;
}

export const hydrationFiles = (spec: Pick<HydrationSpec, 'dir' | 'id'>): { cow: string; log: string } => ({
  cow: path.join(spec.dir, `${spec.id}.cow`),
  log: path.join(spec.dir, `${spec.id}.log`),
});

type Undo = Array<() => Promise<unknown>>;

/**
 * Makes the volume's device the mirror: `fresh` makes the COW store and region log (the kernel then
 * copies every region); `again` (after a reboot) reuses them (it copies what was not done).
 */
export async function attachHydration(spec: HydrationSpec, mode: 'fresh' | 'again'): Promise<void> {
  const device = await dmNameOf(spec.device);
  const undo: Undo = [];
  try {
    const files = await hydrationStores(spec, mode, undo);
    const image = await attachImage(spec.image, spec.sizeBytes, undo);
    const cow = await attachLoop(files.cow, [], undo);
    const log = await attachLoop(files.log, [], undo);
    const names = hydrationNames(spec.id);
    const sectors = spec.sizeBytes / SECTOR;
    await create(names.source, hydrationUuid(names.source), sourceTable(sectors, image, cow));
    undo.push(() => removeDevice(names.source));
    await createWithTable(names.primary, await dmsetup(['table', device]));
    undo.push(() => removeDevice(names.primary));
    const legs = { log, source: await idOf(names.source), primary: await idOf(names.primary) };
    await swapTable(device, mirrorTable(sectors, legs));
    undo.length = 0;
  } finally {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  }
}

/** How far the kernel's copy is; `switched` when the volume is its own table again and only helpers remain. */
export async function hydrationProgress(spec: HydrationSpec): Promise<HydrationProgress> {
  const sizeBytes = spec.sizeBytes;
  // not active (a reboot; an LV kept from autoactivation while its copy runs)
  const device = await dmNameOf(spec.device).catch(() => null);
  if (!device) return { state: 'inactive', doneBytes: 0, sizeBytes, status: null };
  const status = parseMirrorStatus(await dmsetup(['status', device]));
  if (!status) {
    const primary = await tool('dmsetup', ['table', hydrationNames(spec.id).primary]);
    const state = primary.exitCode === 0 ? 'switched' : 'inactive';
    return { state, doneBytes: state === 'switched' ? sizeBytes : 0, sizeBytes, status: null };
  }
  const doneBytes = Math.min(sizeBytes, Math.floor((sizeBytes * status.synced) / status.total));
  const failed = /[^A]/.test(status.legs) || status.log !== 'A';
  const state = failed ? 'failed' : status.synced === status.total ? 'synced' : 'copying';
  return { state, doneBytes, sizeBytes, status };
}

/** Once every region is copied: the volume's device becomes its own table again; the helpers go. */
export async function finishHydration(spec: HydrationSpec): Promise<void> {
  const device = await dmNameOf(spec.device);
  const progress = await hydrationProgress(spec);
  const names = hydrationNames(spec.id);
  if (progress.state === 'synced') {
    await swapTable(device, await dmsetup(['table', names.primary]));
  } else if (progress.state !== 'switched') {
    throw new QrvError(
      'refused',
      'hydration-unfinished',
      `the copy onto ${spec.device} is ${progress.state} (${progress.doneBytes} of ${progress.sizeBytes} bytes)`,
      progress.state === 'inactive'
        ? 'activate the volume first (qrv volume activate)'
        : 'wait for it: qrv recover --status',
    );
  }
  await removeHelpers(spec);
}

/**
 * The helper devices, their loop devices and (unless `keepFiles`: a reattach after a reboot reuses
 * them) their files; each already gone is not an error.
 */
export async function removeHelpers(spec: Pick<HydrationSpec, 'id' | 'dir'> & { keepFiles?: boolean }): Promise<void> {
  const names = hydrationNames(spec.id);
  const loops: string[] = [];
  for (const name of [names.primary, names.source]) {
    const shown = await tool('dmsetup', ['table', name]);
    if (shown.exitCode !== 0) continue;
    if (name === names.source) loops.push(...(parseTable(shown.stdout)?.[0]?.args.slice(0, 2) ?? []));
    await removeDevice(name);
  }
  const files = hydrationFiles(spec);
  loops.push(...(await loopsOf(files.log)), ...(await loopsOf(files.cow)));
  for (const id of loops) {
    const loop = /^\d+:\d+$/.test(id) ? await devicePathOf(id) : id;
    if (!loop?.startsWith('/dev/loop')) continue;
    await flushLoop(loop);
    await tool('losetup', ['-d', loop]);
  }
  if (!spec.keepFiles) await Promise.all([fs.rm(files.cow, { force: true }), fs.rm(files.log, { force: true })]);
}

/**
 * The jobs whose helper devices exist (qrv-hyd-JOB-src, qrv-hyd-JOB-prim) or whose COW store or
 * region log is in `dir`; none where device-mapper cannot be read (not root, no dm).
 */
export async function helperJobs(dir: string): Promise<string[]> {
  const shown = await tool('dmsetup', ['info', '-c', '--noheadings', '-o', 'name']).catch(() => null);
  const devices =
    shown?.exitCode === 0 ? shown.stdout.split('\n').map((l) => /^qrv-hyd-(.+)-(?:src|prim)$/.exec(l.trim())) : [];
  const files = (await fs.readdir(dir).catch(() => [] as string[])).map((f) => /^(.+)\.(?:cow|log)$/.exec(f));
  return [...new Set([...devices, ...files].flatMap((m) => (m ? [m[1] as string] : [])))];
}

// ---- steps ---------------------------------------------------------------------------------

/** The dm name of a device-mapper block device (from sysfs), or a clear error for anything else. */
export async function dmNameOf(devicePath: string): Promise<string> {
  const id = await blockDeviceId(devicePath);
  const name = id ? (await fs.readFile(`/sys/dev/block/${id}/dm/name`, 'utf8').catch(() => '')).trim() : '';
  if (!name)
    throw new QrvError(
      'io',
      'volume-inactive',
      `${devicePath} is not an active device-mapper device`,
      'activate the volume first (qrv volume activate, or lvchange -ay)',
    );
  return name;
}

const idOf = async (name: string): Promise<string> => {
  const id = await blockDeviceId(`/dev/mapper/${name}`);
  if (!id) throw new QrvError('io', 'no-device-node', `/dev/mapper/${name} is missing`, 'check that udev runs');
  return id;
};

/** Suspends the device, loads `tableText` and resumes it (always, also when the load failed). */
async function swapTable(device: string, tableText: string): Promise<void> {
  await dmsetup(['suspend', device]);
  try {
    await toolOkInput('dmsetup', ['reload', device], tableText);
  } finally {
    await resume(device);
  }
}

/** A device with a table of any number of lines (given on stdin). */
async function createWithTable(name: string, tableText: string): Promise<void> {
  await toolOkInput('dmsetup', ['create', '--verifyudev', name, '-u', hydrationUuid(name)], tableText);
  if (!(await blockDeviceId(`/dev/mapper/${name}`))) await tool('dmsetup', ['mknodes', name]);
}

async function toolOkInput(program: string, args: string[], input: string): Promise<void> {
  await toolOk(program, args, { stdin: 'pipe', input });
}

/** The COW store and region log: made (0600, sparse, never over a file that exists) or found again. */
async function hydrationStores(spec: HydrationSpec, mode: 'fresh' | 'again', undo: Undo) {
  const files = hydrationFiles(spec);
  if (mode === 'again') {
    for (const file of [files.cow, files.log])
      await fs.access(file).catch(() => {
        throw new QrvError(
          'io',
          'hydration-store-missing',
          `${file} is gone: the writes made while the copy ran, or what was copied, are lost`,
          'recover the volume again from its copy (qrv recover VOLUME --from ID --force)',
        );
      });
    return files;
  }
  await fs.mkdir(spec.dir, { recursive: true, mode: 0o700 });
  await newSparseFile(files.cow, cowBytes(spec.sizeBytes), undo);
  await newSparseFile(files.log, logBytes(spec.sizeBytes), undo);
  return files;
}

async function newSparseFile(file: string, bytes: number, undo: Undo): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  undo.push(() => fs.rm(file, { force: true }));
  try {
    await handle.truncate(bytes);
  } finally {
    await handle.close();
  }
}

/**
 * The copy (an image file or a block device), attached read-only through a descriptor opened
 * without following a symlink, as long as the volume (a disk holding a QRV may be larger).
 */
async function attachImage(image: string, sizeBytes: number, undo: Undo): Promise<string> {
  const handle = await fs.open(image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = await handle.stat();
    if (!st.isFile() && !st.isBlockDevice())
      throw new QrvError(
        'refused',
        'source-kind',
        `${image} is neither an image file nor a block device`,
        'check the QRV',
      );
    return await attachLoop('/proc/self/fd/3', ['-r', '--sizelimit', String(sizeBytes)], undo, handle.fd);
  } finally {
    await handle.close();
  }
}

/** A loop device over `file`; returns its major:minor. */
async function attachLoop(file: string, flags: string[], undo: Undo, fd?: number): Promise<string> {
  const stdio = fd === undefined ? {} : { stdio: ['ignore', 'pipe', 'pipe', fd] as const };
  const loop = (await toolOk('losetup', [...flags, '-f', '--show', file], stdio as object)).stdout.trim();
  undo.push(() => tool('losetup', ['-d', loop]));
  const id = await blockDeviceId(loop);
  if (!id)
    throw new QrvError(
      'io',
      'no-loop-device',
      `losetup attached ${file} to "${loop}", no block device`,
      'check losetup -a',
    );
  return id;
}

/**
 * What is in flight to a loop device reaches its file before the device is detached (I/O still
 * queued at LOOP_CLR_FD may be dropped; systemd syncs first for the same reason).
 */
async function flushLoop(loop: string): Promise<void> {
  const handle = await fs.open(loop, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW).catch(() => null);
  try {
    await handle?.sync();
  } catch {
    // a device already going away: its detach says what is wrong
  } finally {
    await handle?.close();
  }
}

/** Loop devices whose backing file is `file`. */
async function loopsOf(file: string): Promise<string[]> {
  const shown = await tool('losetup', ['-n', '-O', 'NAME', '-j', file]);
  return shown.exitCode === 0
    ? shown.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
}
