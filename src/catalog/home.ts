// Where the catalog lives: --home, else $QRV_HOME, else /var/lib/qrv for root and the XDG data
// folder for everyone else; and whether that folder can be trusted. The home and every folder
// above it are checked the way sshd's StrictModes checks ~/.ssh (private-files.ts) before any
// file in it is read, because a root qrv runs the hook commands its catalog names.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QrvError, errnoCode } from '../core/errors.ts';
import { notPrivateBecause, unsafeHome, unsafeParentBecause } from './private-files.ts';

export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag);
  if (env.QRV_HOME) return path.resolve(env.QRV_HOME);
  if (process.getuid?.() === 0) return '/var/lib/qrv';
  const xdg =
    env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME)
      ? env.XDG_DATA_HOME
      : path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'qrv');
}

// Kernel filesystems (statfs f_type) where files cannot be kept: Node's recursive mkdir spins
// for ever under /proc, and /sys or a cgroup folder would only give odd errors later.
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x1cd1, 'devpts'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x42494e4d, 'binfmt_misc'],
  [0x19800202, 'mqueue'],
  [0x65735543, 'fusectl'],
]);

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such folder',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
};

/** "permission denied (EACCES)": an errno as words, for one-line messages. */
export function errnoText(error: unknown): string {
  const code = errnoCode(error);
  if (code && ERRNO_TEXT[code]) return `${ERRNO_TEXT[code]} (${code})`;
  return code ?? (error instanceof Error ? error.message : String(error));
}

export function homeUnusable(home: string, error: unknown, doing = 'use'): QrvError {
  return new QrvError(
    'catalog',
    'home-unusable',
    `cannot ${doing} the qrv home ${home}: ${errnoText(error)}`,
    'run qrv as the user the home belongs to, or pass --home DIR or set QRV_HOME to a folder you can write',
  );
}

/** The real path of the nearest folder at or above `abs` that exists, and the names below it that do not. */
async function existingBase(abs: string): Promise<{ base: string; missing: string[] }> {
  const missing: string[] = [];
  for (let at = abs; ; at = path.dirname(at)) {
    try {
      return { base: await fs.realpath(at), missing };
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' || at === path.dirname(at)) throw error;
      missing.unshift(path.basename(at));
    }
  }
}

async function refuseKernelFilesystem(home: string, existing: string): Promise<void> {
  const type = KERNEL_FILESYSTEMS.get(Number((await fs.statfs(existing)).type));
  if (type)
    throw new QrvError(
      'catalog',
      'home-unusable',
      `cannot use the qrv home ${home}: ${existing} is on ${type}, a kernel filesystem that holds no files`,
      'pass --home DIR or set QRV_HOME to a folder on a real filesystem',
    );
}

/** Every folder from `dir` up to / must keep others from swapping what is below it. */
async function checkParents(home: string, dir: string): Promise<void> {
  for (let at = dir; ; at = path.dirname(at)) {
    const st = await fs.lstat(at);
    const why = st.isSymbolicLink() ? 'it became a symbolic link' : unsafeParentBecause(st);
    if (why) throw unsafeHome(home, `its parent folder ${at} is not safe: ${why}`);
    if (at === path.dirname(at)) return;
  }
}

/**
 * Checks the home and its parents, creating the missing folders (0700, one by one) when
 * `create`; returns the home's real path, which is what qrv uses from then on (a symbolic
 * link on the way is followed once, here, and never again).
 */
export async function prepareHome(home: string, create: boolean): Promise<string> {
  const abs = path.resolve(home);
  let found: { base: string; missing: string[] };
  try {
    found = await existingBase(abs);
    await refuseKernelFilesystem(abs, found.base);
  } catch (error) {
    if (error instanceof QrvError) throw error;
    throw homeUnusable(abs, error);
  }
  const real = path.join(found.base, ...found.missing);
  await checkParents(abs, found.missing.length ? found.base : path.dirname(found.base));
  if (found.missing.length && !create) return real;
  let at = found.base;
  for (const name of found.missing) {
    at = path.join(at, name);
    try {
      await fs.mkdir(at, { mode: 0o700 });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw homeUnusable(abs, error, 'create');
    }
  }
  const st = await fs.lstat(real).catch((error: unknown) => {
    throw homeUnusable(abs, error);
  });
  if (!st.isDirectory())
    throw new QrvError(
      'catalog',
      'home-unusable',
      `cannot use the qrv home ${abs}: ${st.isSymbolicLink() ? 'it is a symbolic link' : 'it is not a folder'}`,
      'pass --home DIR or set QRV_HOME to a folder',
    );
  const why = notPrivateBecause(st);
  if (why) throw unsafeHome(abs, why);
  return real;
}
