// Reading a filesystem through a read-only mount (root): ext2/3/4 with `noload` (the journal is
// not replayed: not one byte of the image changes), XFS with `norecovery,nouuid` (a QRV has the
// UUID of its volume, which may be mounted), btrfs `ro`; always `nosuid,nodev,noexec`: an image
// qrv did not make may hold setuid binaries and device nodes, which must mean nothing on the host.
// The mount is on `mnt` inside a private 0700 folder (the mounted root's own mode replaces the
// mountpoint's, so the folder around it is what keeps other users out), and is ALWAYS removed: by close() (in a finally), and by a guard — a small detached
// process holding a pipe from qrv — when qrv ends without close(): Ctrl-C (execute() exits 130),
// SIGTERM, SIGKILL or a crash close the pipe, and the guard unmounts and removes the folder.
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGuard, type Guard } from '../system/guard.ts';
import { failpoint } from '../core/failpoints.ts';
import { QrvError } from '../core/errors.ts';
import { tool } from '../system/tools.ts';
import { BaseReader } from './base-reader.ts';
import { childPath, childRawPath, displayName, typeOfMode } from './names.ts';
import type { FsType, Located } from './types.ts';
import { unsafeParentBecause } from '../core/private-mode.ts';

/** Mount options for a read-only mount that changes nothing and gives nothing on the host. */
export function mountOptions(fsType: FsType, isFile: boolean): { type: string; options: string } {
  const base = [...(isFile ? ['loop'] : []), 'ro', 'nosuid', 'nodev', 'noexec'];
  switch (fsType) {
    case 'xfs':
      return { type: 'xfs', options: [...base, 'norecovery', 'nouuid'].join(',') };
    case 'btrfs':
      return { type: 'btrfs', options: base.join(',') };
    default:
      return { type: 'ext4', options: [...base, 'noload'].join(',') };
  }
}

/**
 * A new `qrv-browse-XXXXXX/mnt` under the temporary folder: mkdtemp makes the outer folder 0700
 * with O_EXCL semantics, so it is safe in a sticky /tmp; a TMPDIR that others can write without
 * the sticky bit (they could rename qrv's folder away and put their own in its place) is refused.
 */
export async function privateMountpoint(prefix = 'qrv-browse-'): Promise<string> {
  const base = os.tmpdir();
  const st = await fs.stat(base).catch(() => null);
  const why = st?.isDirectory() ? unsafeParentBecause(st) : 'it is not a folder';
  if (why) {
    throw new QrvError(
      'refused',
      'unsafe-tmpdir',
      `temporary folder ${base}: ${why}; qrv does not mount copies there`,
      'set TMPDIR to a folder only root can write (or a sticky one, like /tmp)',
    );
  }
  const outer = await fs.mkdtemp(path.join(base, prefix));
  const mountpoint = path.join(outer, 'mnt');
  await fs.mkdir(mountpoint, { mode: 0o700 });
  return mountpoint;
}

export async function removeMountpoint(mountpoint: string): Promise<void> {
  await fs.rmdir(mountpoint).catch(() => undefined);
  await fs.rmdir(path.dirname(mountpoint)).catch(() => undefined);
}

/**
 * Starts the unmount guard (wrapped in an object: see startGuard): it unmounts the copy and
 * removes the folder when its stdin closes without "done" (qrv is gone), retrying while the mount
 * is busy, then detaching it lazily (guard-process.ts).
 */
export async function startMountGuard(mountpoint: string): Promise<{ guard: Guard }> {
  const { guard } = await startGuard(
    'mount',
    { QRV_MOUNT_POINT: mountpoint },
    { code: 'mount-guard', name: 'mount guard', nothingDone: 'nothing was mounted' },
  );
  // Nor does the pipe keep qrv running: when qrv exits it closes, and the guard cleans up.
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return { guard };
}

export class MountReader extends BaseReader {
  readonly method = 'mount' as const;
  readonly mountpoint: string;
  private readonly guard: Guard;
  private closed = false;

  private constructor(fsType: FsType, source: string, label: string, mountpoint: string, guard: Guard) {
    super(fsType, source, label);
    this.mountpoint = mountpoint;
    this.guard = guard;
  }

  /** Mounts `source` read-only on a new private folder (under a guard) and returns the reader. */
  static async open(fsType: FsType, source: string, label: string, isFile: boolean): Promise<MountReader> {
    const mountpoint = await privateMountpoint();
    let guard: Guard;
    try {
      ({ guard } = await startMountGuard(mountpoint));
    } catch (error) {
      await removeMountpoint(mountpoint);
      throw error;
    }
    const { type, options } = mountOptions(fsType, isFile);
    const result = await tool('mount', ['-t', type, '-o', options, source, mountpoint]).catch(
      (error: unknown) => error as Error,
    );
    if (result instanceof Error || result.exitCode !== 0) {
      guard.stdin?.end('done\n');
      await removeMountpoint(mountpoint);
      if (result instanceof Error) throw result;
      const said = (result.stderr || result.stdout).trim().split('\n').pop() ?? '';
      throw new QrvError(
        'io',
        'mount-failed',
        `cannot mount ${label} (${source}) read-only as ${fsType}${said ? `: ${said}` : ''}`,
        fsType === 'btrfs'
          ? 'a btrfs copy cannot be mounted while a filesystem with the same UUID is mounted on kernels before 6.7; unmount the volume or copy the QRV elsewhere'
          : 'check the filesystem (e2fsck -fn, xfs_repair -n) on a copy of it',
      );
    }
    const reader = new MountReader(fsType, source, label, mountpoint, guard);
    await failpoint('after-mount').catch(async (error: unknown) => {
      await reader.close();
      throw error;
    });
    return reader;
  }

  private hostPath(entry: { rawPath: Buffer }): Buffer {
    return Buffer.concat([Buffer.from(this.mountpoint), entry.rawPath.length === 1 ? Buffer.alloc(0) : entry.rawPath]);
  }

  private async entryAt(parent: Located | null, name: Buffer): Promise<Located> {
    const rawPath = parent ? childRawPath(parent.rawPath, name) : Buffer.from('/');
    const host = this.hostPath({ rawPath });
    const st = await fs.lstat(host);
    const shown = displayName(name);
    const type = typeOfMode(st.mode);
    const entry: Located = {
      name: parent ? shown : '/',
      path: parent ? childPath(parent.path, shown) : '/',
      type,
      size: type === 'char' || type === 'block' ? 0 : st.size,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtime: new Date(Math.floor(st.mtimeMs)).toISOString(),
      inode: st.ino,
      links: st.nlink,
      rawName: parent ? name : Buffer.from('/'),
      rawPath,
    };
    if (type === 'char' || type === 'block') entry.rdev = splitRdev(st.rdev);
    if (type === 'symlink') {
      const target = await fs.readlink(host, { encoding: 'buffer' }).catch(() => null);
      entry.target = target === null ? null : displayName(target);
    }
    return entry;
  }

  protected async root(): Promise<Located> {
    return this.entryAt(null, Buffer.from('/'));
  }

  protected async childrenOf(dirs: Located[]): Promise<Located[][]> {
    return Promise.all(
      dirs.map(async (dir) => {
        const names = await fs.readdir(this.hostPath(dir), { encoding: 'buffer' });
        names.sort(Buffer.compare);
        const entries: Located[] = [];
        for (const name of names) entries.push(await this.entryAt(dir, name));
        return entries;
      }),
    );
  }

  protected async targetOf(link: Located): Promise<Buffer | null> {
    return fs.readlink(this.hostPath(link), { encoding: 'buffer' }).catch(() => null);
  }

  protected async copyFiles(pairs: Array<{ entry: Located; to: Buffer }>): Promise<void> {
    for (const { entry, to } of pairs) await fs.copyFile(this.hostPath(entry), to);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = await unmountPatiently(this.mountpoint);
    if (error) {
      this.guard.stdin?.end();
      throw error;
    }
    await removeMountpoint(this.mountpoint);
    this.guard.stdin?.end('done\n');
  }
}

/** Linux dev_t → major and minor (glibc's encoding). */
export function splitRdev(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)),
  };
}

/** Unmounts `mountpoint`, trying again for 2 s while it is busy; the error when it stays mounted. */
export async function unmountPatiently(mountpoint: string): Promise<QrvError | null> {
  for (let attempt = 0; ; attempt += 1) {
    const result = await tool('umount', [mountpoint]);
    if (result.exitCode === 0) return null;
    if (attempt >= 20)
      // Left to the guard, which retries and detaches it lazily when qrv exits.
      return new QrvError(
        'io',
        'umount-failed',
        `cannot unmount ${mountpoint}: ${result.stderr.trim().split('\n').pop() ?? ''}`,
        `it is detached when qrv exits; check with \`findmnt ${mountpoint}\``,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
