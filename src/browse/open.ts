// The one function that chooses how a snapshot's or QRV's filesystem is read: debugfs (ext2/3/4,
// no root needed) or a read-only mount (root; the only way for XFS and btrfs). What is mounted
// already is never mounted a second time.
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { QrvError, errnoCode } from '../core/errors.ts';
import { loopDevicesBackedBy } from '../system/block-device.ts';
import { mountpointsOf } from '../system/freeze.ts';
import { DebugfsReader } from './debugfs-reader.ts';
import { detectFilesystem } from './detect.ts';
import { MountReader } from './mount-reader.ts';
import type { FilesystemReader, FsType, Method } from './types.ts';

export type Via = Method | 'auto';

export interface OpenOptions {
  /** how the source is named in messages (its snapshot or QRV id) */
  label: string;
  via?: Via;
  /** whether qrv may mount (default: running as root) */
  root?: boolean;
}

function unreadable(source: string, label: string): QrvError {
  return new QrvError(
    'refused',
    'no-permission',
    `${source} (${label}) cannot be read by this user`,
    'run qrv as root, or as a user that may read it',
  );
}

/** The source's stat: it exists, this user may reach it, and it is an image file or a block device. */
async function statSource(source: string, label: string): Promise<Stats> {
  const st = await fs.stat(source).catch((error: unknown) => {
    const code = errnoCode(error);
    if (code === 'ENOENT')
      throw new QrvError(
        'io',
        'data-missing',
        `${source}, the data of ${label}, does not exist`,
        '`qrv doctor` compares the catalog with what is on disk',
      );
    if (code === 'EACCES') throw unreadable(source, label);
    throw error;
  });
  if (!st.isFile() && !st.isBlockDevice())
    throw new QrvError(
      'refused',
      'unknown-filesystem',
      `${source} (${label}) is neither an image file nor a block device`,
      'qrv browses image files and block devices',
    );
  return st;
}

/** The filesystem the source holds, when it is one qrv reads. */
async function filesystemOf(source: string, label: string): Promise<FsType> {
  const detected = await detectFilesystem(source).catch((error: unknown) => {
    if (errnoCode(error) === 'EACCES') throw unreadable(source, label);
    throw error;
  });
  if (detected.fsType === null) {
    throw new QrvError(
      'refused',
      'unknown-filesystem',
      `${label} (${source}) holds no filesystem qrv can read: ${detected.what}`,
      'qrv reads ext2/3/4, XFS and btrfs; attach it with `losetup -r` and look at it by hand',
    );
  }
  return detected.fsType;
}

/** Mounted already (a block device, or an image through a loop device): not a second time. */
async function refuseMounted(source: string, label: string, st: Stats): Promise<void> {
  const devices = st.isBlockDevice() ? [source] : await loopDevicesBackedBy(source);
  const points = devices.length ? await mountpointsOf(devices) : [];
  if (points.length) {
    throw new QrvError(
      'refused',
      'source-mounted',
      `${label} (${source}) is mounted at ${points.join(', ')}; qrv does not mount it a second time`,
      `browse it there (ls -l ${points[0]}), or unmount it first`,
    );
  }
}

/** debugfs or a mount: --via, else a mount for root and for what debugfs cannot read; refused when it cannot be. */
function methodFor(fsType: FsType, label: string, via: Via, root: boolean): Method {
  const ext = fsType === 'ext2' || fsType === 'ext3' || fsType === 'ext4';
  const method: Method = via === 'auto' ? (root || !ext ? 'mount' : 'debugfs') : via;
  if (method === 'debugfs') {
    if (!ext)
      throw new QrvError(
        'refused',
        'needs-root-mount',
        `${label} holds ${fsType}, which debugfs cannot read`,
        'run qrv as root: it mounts the copy read-only',
      );
    return method;
  }
  if (!root) {
    throw new QrvError(
      'refused',
      'needs-root-mount',
      `${label} holds ${fsType}; reading it needs a read-only mount, and only root can mount`,
      ext
        ? 'run qrv as root, or leave out --via mount (ext2/3/4 is read with debugfs without root)'
        : 'run qrv as root (sudo qrv …)',
    );
  }
  return method;
}

/** Opens `source` (an image file or a block device) for reading: with debugfs or a read-only mount. */
export async function openReader(source: string, options: OpenOptions): Promise<FilesystemReader> {
  const { label } = options;
  const via = options.via ?? 'auto';
  const root = options.root ?? process.getuid?.() === 0;
  const st = await statSource(source, label);
  const fsType = await filesystemOf(source, label);
  await refuseMounted(source, label, st);
  const method = methodFor(fsType, label, via, root);
  if (method === 'debugfs') return new DebugfsReader(fsType, source, label);
  return MountReader.open(fsType, source, label, st.isFile());
}

/** Opens a reader, runs `work`, and always closes it (unmounts), also when `work` fails. */
export async function withReader<T>(
  source: string,
  options: OpenOptions,
  work: (reader: FilesystemReader) => Promise<T>,
): Promise<T> {
  const reader = await openReader(source, options);
  let result: T;
  try {
    result = await work(reader);
  } catch (error) {
    // The first error is the one to tell; close() still runs (and the guard cleans up if it fails).
    await reader.close().catch(() => undefined);
    throw error;
  }
  await reader.close();
  return result;
}
