// Opening and checking the two ends of a copy before any byte of the destination is touched:
// the source must be a regular file or block device holding at least `sizeBytes`; the destination
// must be of the declared kind, must not be the source, and a block device must be big enough.
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { QrvError, errnoCode } from '../core/errors.ts';
import { shortReadError } from './chunk-reader.ts';
import { ioCall, toIoError } from '../core/io-error.ts';
import { deviceSize } from '../system/block-device.ts';

export type DestinationKind = 'file' | 'block';

/**
 * Whether the open device holds at least `sizeBytes`: sysfs's size when available, otherwise a
 * probe that reads the last byte the copy needs (a read past a device's end returns 0 bytes).
 */
async function deviceCapacity(
  handle: FileHandle,
  path: string,
  stats: Stats,
  sizeBytes: number,
): Promise<{ enough: boolean; size?: number }> {
  const size = await deviceSize(stats);
  if (size !== undefined) return { enough: size >= sizeBytes, size };
  if (sizeBytes === 0) return { enough: true };
  const probe = Buffer.alloc(1);
  const { bytesRead } = await ioCall('read', path, () => handle.read(probe, 0, 1, sizeBytes - 1));
  return { enough: bytesRead === 1 };
}

function sameObject(a: Stats, b: Stats): boolean {
  if (a.isBlockDevice() && b.isBlockDevice()) return a.rdev === b.rdev;
  return a.dev === b.dev && a.ino === b.ino;
}

/** Opens the source read-only and checks it can supply `sizeBytes`. */
export async function openSource(path: string, sizeBytes: number): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await ioCall('open', path, () => open(path, constants.O_RDONLY));
  try {
    const stats = await ioCall('stat', path, () => handle.stat());
    if (stats.isFile()) {
      if (stats.size < sizeBytes) throw shortReadError(path, stats.size, sizeBytes);
    } else if (stats.isBlockDevice()) {
      const capacity = await deviceCapacity(handle, path, stats, sizeBytes);
      if (!capacity.enough) throw shortReadError(path, capacity.size ?? 0, sizeBytes);
    } else {
      throw new QrvError(
        'refused',
        'source-kind',
        `${path} is neither a regular file nor a block device`,
        'give the path of a snapshot image file or a snapshot block device',
      );
    }
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

function checkDestinationKind(path: string, kind: DestinationKind, stats: Stats, source: Stats): void {
  if (sameObject(stats, source)) {
    throw new QrvError(
      'refused',
      'same-file',
      `${path} is the source itself`,
      'choose a destination that is not the snapshot being copied',
    );
  }
  if (kind === 'block' && !stats.isBlockDevice()) {
    throw new QrvError(
      'refused',
      'destination-kind',
      `${path} is not a block device`,
      'use a file destination for image files, or give the path of the device (e.g. /dev/vg/replica)',
    );
  }
  if (kind === 'file' && !stats.isFile()) {
    const what = stats.isBlockDevice() ? 'a block device' : stats.isDirectory() ? 'a directory' : 'not a regular file';
    throw new QrvError(
      'refused',
      'destination-kind',
      `${path} is ${what}, but the destination is declared as an image file`,
      'declare block devices as block destinations; give an image file path for file destinations',
    );
  }
}

/**
 * Opens the destination for writing and prepares it. A file keeps its inode (a VM or loop device
 * may hold it open): it is created if missing (0600: a replica of a volume is as private as the catalog that names it), never opened with O_TRUNC, then truncated to
 * 0 and extended to `sizeBytes`, so it is all holes before the copy writes its non-zero blocks.
 * With `keep` (an incremental or resumed copy), a file keeps its content and is only cut or
 * extended to `sizeBytes`.
 * A block device is opened with O_EXCL, which Linux turns into "fail with EBUSY if mounted".
 */
export async function openDestination(
  path: string,
  kind: DestinationKind,
  sizeBytes: number,
  source: Stats,
  options: { keep?: boolean } = {},
): Promise<FileHandle> {
  // Check before opening: opening with O_CREAT must not create a file where a device was expected,
  // and the source must never be truncated.
  let existing: Stats | undefined;
  try {
    existing = await stat(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT' || kind === 'block') throw toIoError(error, 'stat', path);
  }
  if (existing) checkDestinationKind(path, kind, existing, source);

  const flags = kind === 'file' ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR | constants.O_EXCL;
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o600);
  } catch (error) {
    throw openError(error, path, kind);
  }
  try {
    await prepareDestination(handle, path, { kind, sizeBytes, source, ...options });
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

function openError(error: unknown, path: string, kind: DestinationKind): QrvError {
  if (kind === 'block' && errnoCode(error) === 'EBUSY') {
    return new QrvError(
      'refused',
      'destination-busy',
      `${path} is in use (mounted, or held open exclusively)`,
      'unmount the device (and stop whatever holds it) before copying onto it',
      { cause: error },
    );
  }
  return toIoError(error, 'open', path);
}

/**
 * Checks an open destination (fstat: its kind, not the source) and makes it ready: a file is
 * cut to holes, or with `keep` only resized, and with `private` (a QRV) made 0600 whoever made
 * it (a `touch`ed 0644 pool member too: a QRV is as private as its volume); a device must be
 * large enough.
 */
export async function prepareDestination(
  handle: FileHandle,
  path: string,
  want: { kind: DestinationKind; sizeBytes: number; source: Stats; keep?: boolean; private?: boolean },
): Promise<void> {
  const { kind, sizeBytes, source } = want;
  const stats = await ioCall('stat', path, () => handle.stat());
  checkDestinationKind(path, kind, stats, source);
  if (kind === 'file') {
    if (want.private && (stats.mode & 0o7777) !== 0o600) await ioCall('chmod', path, () => handle.chmod(0o600));
    if (!want.keep) await ioCall('truncate', path, () => handle.truncate(0));
    await ioCall('truncate', path, () => handle.truncate(sizeBytes));
    return;
  }
  const capacity = await deviceCapacity(handle, path, stats, sizeBytes);
  if (!capacity.enough) {
    const have = capacity.size === undefined ? 'is smaller than' : `holds ${capacity.size} bytes, less than`;
    throw new QrvError(
      'refused',
      'destination-too-small',
      `${path} ${have} the ${sizeBytes} bytes of the volume`,
      `grow the device to at least ${sizeBytes} bytes (e.g. lvextend -L ${sizeBytes}b ${path}) or use a bigger one`,
    );
  }
}

/** What a destination was when it was checked (stat), or null: a file the copy creates. */
export interface PlannedDestination {
  path: string;
  kind: DestinationKind;
  planned: Stats | null;
  /** what it is called in messages: a copy's destination (the default) or a recovery's target */
  role?: 'destination' | 'target';
}

function changed(dest: PlannedDestination, what: string, cause?: unknown): QrvError {
  const role = dest.role ?? 'destination';
  return new QrvError(
    'refused',
    'destination-changed',
    `${role} ${dest.path} ${what} since it was checked; nothing was written to it`,
    `see who else writes in that folder (it should be writable by root only); run the ${role === 'target' ? 'recovery' : 'copy'} again`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Opens the destination once, as it was checked, for everything the copy does after (write,
 * truncate, fsync, read back): never following a symlink at its last name (O_NOFOLLOW), a new
 * file created only if nothing is there (O_CREAT|O_EXCL), an existing one only if it is still
 * the same file or device (fstat: dev/inode, or the device number), a device exclusively
 * (O_EXCL: EBUSY while mounted or held). Not prepared yet: see prepareDestination.
 */
export async function openPlanned(dest: PlannedDestination): Promise<FileHandle> {
  const { path, kind, planned } = dest;
  const base = constants.O_RDWR | constants.O_NOFOLLOW;
  const flags =
    planned === null ? base | constants.O_CREAT | constants.O_EXCL : kind === 'block' ? base | constants.O_EXCL : base;
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o600);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ELOOP') throw changed(dest, 'was replaced by a symlink', error);
    if (code === 'EEXIST') throw changed(dest, 'appeared', error);
    if (code === 'ENOENT' && planned) throw changed(dest, 'disappeared', error);
    throw openError(error, path, kind);
  }
  try {
    const now = await ioCall('stat', path, () => handle.stat());
    const same =
      planned === null ||
      (planned.isBlockDevice()
        ? now.isBlockDevice() && now.rdev === planned.rdev
        : now.dev === planned.dev && now.ino === planned.ino);
    if (!same) throw changed(dest, 'is another file');
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
