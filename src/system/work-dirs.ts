// Private work folders in $TMPDIR that qrv makes for one command (recovery by object: the
// overlay clone of a copy, a throwaway server's run folder, files read out of a copy) are marked
// with the process that made them (pid and start time), so that `qrv doctor` can tell the folders
// of a qrv that was killed from those of one that still runs, and remove them.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { tool } from './tools.ts';

export const WORK_PREFIXES = ['qrv-clone-', 'qrv-pg-', 'qrv-sqlite-', 'qrv-pgdump-'] as const;
const MARK = '.qrv-owner';

/** A process's start time in clock ticks after boot (/proc/PID/stat, field 22), or null when it is gone. */
export async function processStartTime(pid: number | 'self'): Promise<string | null> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat ? (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null) : null;
}

/** Marks `dir` (a folder this process just made) as this process's. */
export async function markWorkDir(dir: string): Promise<void> {
  const mark = JSON.stringify({ pid: process.pid, startTime: await processStartTime('self') });
  await fs.writeFile(path.join(dir, MARK), `${mark}\n`, { mode: 0o600, flag: 'wx' });
}

/** A new private 0700 folder `$TMPDIR/PREFIXxxxxxx`, marked as this process's. */
export async function makeWorkDir(prefix: (typeof WORK_PREFIXES)[number]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await markWorkDir(dir);
  return dir;
}

/**
 * Removes `dir` and everything in it, as root, though others own folders inside (what a database's
 * owner wrote in a clone, a server's run folder): by GNU rm, which walks by descriptor and never
 * follows a link swapped in for a folder it is removing; fs.rm walks by path, so the owner of a
 * folder inside could make it delete, as root, files anywhere.
 */
export async function removeTree(dir: string): Promise<void> {
  const result = await tool('rm', ['-rf', '--one-file-system', '--', dir]);
  if (result.exitCode !== 0)
    throw new QrvError(
      'io',
      'tool-failed',
      `cannot remove ${dir}: ${result.stderr.trim().split('\n').pop() ?? ''}`,
      'remove it by hand (rm -rf), or let `qrv doctor --fix` do it',
    );
}

/** Whether the process that made `dir` still runs (a folder without a readable mark: no). */
async function ownerAlive(dir: string): Promise<boolean> {
  const text = await fs.readFile(path.join(dir, MARK), 'utf8').catch(() => '');
  try {
    const { pid, startTime } = JSON.parse(text) as { pid: number; startTime: string | null };
    return Number.isInteger(pid) && (await processStartTime(pid)) === startTime;
  } catch {
    return false;
  }
}

/**
 * qrv's work folders in `tmp` (root's, not links, older than a minute: one just made may not be
 * marked yet) whose process is gone. Only root looks: they are root's.
 */
export async function abandonedWorkDirs(tmp = os.tmpdir(), now = Date.now()): Promise<string[]> {
  const found: string[] = [];
  if (process.getuid?.() !== 0) return found;
  for (const name of await fs.readdir(tmp).catch(() => [] as string[])) {
    if (!WORK_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const dir = path.join(tmp, name);
    const st = await fs.lstat(dir).catch(() => null);
    // Only what root made: a folder of that name that another user made is not qrv's to remove.
    if (!st?.isDirectory() || st.uid !== 0 || now - st.mtimeMs < 60_000) continue;
    if (!(await ownerAlive(dir))) found.push(dir);
  }
  return found.sort();
}
