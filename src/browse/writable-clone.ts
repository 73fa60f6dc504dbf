// A writable clone of a snapshot's or QRV's filesystem that never writes to the copy (F13: a
// database started on a copy to take one database out): the copy is mounted read-only
// (mount-reader.ts, `noload`/`norecovery`: not one byte of it changes), and an overlay on top
// takes every write into a private upper folder — constant time, whatever the size. Both mounts
// are `nosuid,nodev,noexec` and each has a guard that unmounts it if qrv dies; close() (in a finally)
// unmounts both and removes the upper folder.
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { tool } from '../system/tools.ts';
import { markWorkDir, removeTree } from '../system/work-dirs.ts';
import { openReader } from './open.ts';
import { MountReader, privateMountpoint, removeMountpoint, startMountGuard, unmountPatiently } from './mount-reader.ts';

export interface WritableClone {
  /** the root of the clone's filesystem: reads as the copy, takes writes */
  root: string;
  close(): Promise<void>;
}

/** The overlay's folders: the mountpoint `outer/mnt` and `outer/upper`, `outer/work` beside it. */
async function overlayFolders(lower: string): Promise<{ merged: string; upper: string; work: string }> {
  const merged = await privateMountpoint('qrv-clone-');
  const outer = path.dirname(merged);
  await markWorkDir(outer);
  // Others may pass through (not list) the outer folder: the database's owner reaches its files in
  // the clone; the clone's root gets the copy's root's owner and mode, as the overlay shows it.
  await fs.chmod(outer, 0o711);
  const upper = path.join(outer, 'upper');
  const work = path.join(outer, 'work');
  await fs.mkdir(upper, { mode: 0o700 });
  await fs.mkdir(work, { mode: 0o700 });
  const st = await fs.stat(lower);
  await fs.chown(upper, st.uid, st.gid);
  await fs.chmod(upper, st.mode & 0o7777);
  return { merged, upper, work };
}

async function mountOverlay(lower: string, label: string): Promise<WritableClone> {
  const { merged, upper, work } = await overlayFolders(lower);
  const outer = path.dirname(merged);
  // the upper folder holds what the database's owner wrote: removed by descriptor, not by path
  const removeAll = () => removeTree(outer);
  const { guard } = await startMountGuard(merged).catch(async (error: unknown) => {
    await removeAll();
    throw error;
  });
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work},nosuid,nodev,noexec`;
  const result = await tool('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]);
  if (result.exitCode !== 0) {
    guard.stdin?.end('done\n');
    await removeAll();
    throw new QrvError(
      'io',
      'mount-failed',
      `cannot lay a writable overlay over ${label}: ${result.stderr.trim().split('\n').pop() ?? ''}`,
      'the kernel needs overlayfs (modprobe overlay)',
    );
  }
  return {
    root: merged,
    close: async () => {
      const error = await unmountPatiently(merged);
      if (error) {
        guard.stdin?.end();
        throw error;
      }
      await removeMountpoint(merged).catch(() => undefined);
      await removeAll();
      guard.stdin?.end('done\n');
    },
  };
}

/** Mounts `source` (an image or a block device) read-only with a writable overlay over it. */
export async function writableClone(source: string, label: string): Promise<WritableClone> {
  const reader = await openReader(source, { label, via: 'mount' });
  if (!(reader instanceof MountReader)) {
    await reader.close();
    throw new QrvError('refused', 'needs-root-mount', `${label} must be mounted to be cloned`, 'run qrv as root');
  }
  const clone = await mountOverlay(reader.mountpoint, label).catch(async (error: unknown) => {
    await reader.close().catch(() => undefined);
    throw error;
  });
  return {
    root: clone.root,
    close: async () => {
      try {
        await clone.close();
      } finally {
        await reader.close();
      }
    },
  };
}
