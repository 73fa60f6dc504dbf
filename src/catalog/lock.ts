// One writer at a time, and no lock is ever taken from a holder that is alive. The lock is
// flock(2) on a file of the home (catalog.lock, cron.lock): the kernel holds it for the open
// file description and drops it when the holder's last descriptor closes, so a holder that is
// stopped, starved or slow keeps it for as long as it lives, and one that dies (even by
// SIGKILL) frees it at once — there is no staleness to guess (system/flock.ts: Node has no
// flock(), util-linux `flock` locks our descriptor for us). The holder's pid, host and start
// time are written into the file for the "who holds it" message.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QrvError, errnoCode } from '../core/errors.ts';
import { homeUnusable } from './home.ts';
import { notPrivateBecause, unsafeFile } from './private-files.ts';

const DEFAULT_WAIT_MS = 15_000;
const MAX_WAIT_MS = 86_400_000;
/** A `catalog.lock` folder is the lock of a qrv before 2026-12 (proper-lockfile), fresh while its mtime is. */
const OLD_LOCK_STALE_MS = 10_000;

/** QRV_LOCK_WAIT_MS, checked when qrv starts: a whole number of milliseconds, 0 to one day. */
export function lockWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.QRV_LOCK_WAIT_MS;
  if (text === undefined || text === '') return DEFAULT_WAIT_MS;
  if (!/^\d{1,9}$/.test(text) || Number(text) > MAX_WAIT_MS) {
    throw new QrvError(
      'usage',
      'bad-lock-wait',
      `QRV_LOCK_WAIT_MS=${JSON.stringify(text)} is not a number of milliseconds from 0 to ${MAX_WAIT_MS}`,
      'unset it (wait 15 s) or set it to e.g. 2000',
    );
  }
  return Number(text);
}

interface HeldLock {
  file: string;
  handle: fs.FileHandle;
  dev: bigint;
  ino: bigint;
}

/** This process as the lock file records it: pid, host and start time (clock ticks after boot, /proc/PID/stat). */
async function holderRecord(): Promise<string> {
  const stat = await fs.readFile('/proc/self/stat', 'utf8').catch(() => '');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  return `${JSON.stringify({ pid: process.pid, host: os.hostname(), startTime, since: new Date().toISOString() })}\n`;
}

/** " (pid 123 on host, since 10:22:12)": who holds a lock, from its file, or "" if it does not say. */
async function holderText(handle: fs.FileHandle): Promise<string> {
  try {
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const record = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as {
      pid?: unknown;
      host?: unknown;
      since?: unknown;
    };
    if (typeof record.pid !== 'number' || typeof record.host !== 'string' || typeof record.since !== 'string')
      return '';
    const host = record.host === os.hostname() ? '' : ` on ${record.host.replace(/[^\w.-]/g, '?')}`;
    return ` (pid ${record.pid}${host}, since ${record.since.replace(/[^\w:.-]/g, '?')})`;
  } catch {
    return '';
  }
}

/** A lock folder left by an older qrv: wait while it is fresh (its holder refreshes it), remove it once stale. */
async function clearOldLockFolder(file: string, deadline: number): Promise<boolean> {
  const st = await fs.lstat(file).catch(() => null);
  if (!st?.isDirectory()) return true;
  if (Date.now() - st.mtimeMs > OLD_LOCK_STALE_MS) {
    await fs.rmdir(file).catch(() => undefined);
    return true;
  }
  if (Date.now() >= deadline) return false;
  await sleep(250);
  return true;
}

/** Opens (creating) the lock file without following a link, and checks it is a private regular file. */
async function openLockFile(home: string, file: string): Promise<fs.FileHandle | 'folder'> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(
      file,
      constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o600,
    );
  } catch (error) {
    if (errnoCode(error) === 'ELOOP') throw unsafeFile(file, 'it is a symbolic link');
    if (errnoCode(error) === 'EISDIR') return 'folder';
    throw homeUnusable(home, error, 'write in');
  }
  const st = await handle.stat();
  const why = st.isFile() ? notPrivateBecause(st) : 'it is not a regular file';
  if (why) {
    await handle.close();
    throw unsafeFile(file, why);
  }
  return handle;
}

/** The lock, or who holds it: waits up to waitMs. */
async function acquire(home: string, name: string, waitMs: number): Promise<HeldLock | { holder: string }> {
  const file = path.join(home, name);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const handle = await openLockFile(home, file);
    if (handle === 'folder') {
      if (!(await clearOldLockFolder(file, deadline))) return { holder: ' (a lock folder of an older qrv)' };
      continue;
    }
    let held: HeldLock | null = null;
    try {
      if (!(await flockOf(handle, Math.max(0, deadline - Date.now())))) return { holder: await holderText(handle) };
      // The name must still lead to what we locked: a lock file removed (and made again) while
      // we waited would let two processes hold "the" lock. Then try again on the new file.
      const st = await handle.stat({ bigint: true });
      const now = await fs.lstat(file, { bigint: true }).catch(() => null);
      if (now && now.dev === st.dev && now.ino === st.ino) {
        await handle.truncate(0);
        await handle.write(await holderRecord(), 0);
        held = { file, handle, dev: st.dev, ino: st.ino };
        return held;
      }
    } finally {
      if (!held) await handle.close();
    }
  }
}

/** flock(LOCK_EX), loaded here, not with the catalog: a command that only reads (qrv list) needs no tool. */
async function flockOf(handle: fs.FileHandle, waitMs: number): Promise<boolean> {
  const { flockExclusive } = await import('../system/flock.ts');
  return flockExclusive(handle, waitMs);
}

async function release(lock: HeldLock): Promise<void> {
  await lock.handle.truncate(0).catch(() => undefined);
  await lock.handle.close();
}

/** Throws unless the lock file at its name is still the one this process locked. */
async function assertHeld(lock: HeldLock, home: string): Promise<void> {
  const now = await fs.lstat(lock.file, { bigint: true }).catch(() => null);
  if (now && now.dev === lock.dev && now.ino === lock.ino) return;
  throw new QrvError(
    'busy',
    'catalog-lock-lost',
    `the lock ${lock.file} was removed or replaced while this qrv held it; nothing was written to the catalog in ${home}`,
    'run the command again; never remove catalog.lock by hand (a lock held by a dead process is free already)',
  );
}

/**
 * Runs `work` holding the catalog lock, waiting up to QRV_LOCK_WAIT_MS for it. `work` gets a
 * check to call right before it writes: it throws if the lock was taken from us meanwhile.
 */
export async function withLock<T>(home: string, work: (stillHeld: () => Promise<void>) => Promise<T>): Promise<T> {
  const lock = await acquire(home, 'catalog.lock', lockWaitMs());
  if (!('handle' in lock)) {
    throw new QrvError(
      'busy',
      'catalog-locked',
      `another qrv${lock.holder} is changing the catalog in ${home}`,
      'wait for it to finish and run the command again',
    );
  }
  try {
    return await work(() => assertHeld(lock, home));
  } finally {
    await release(lock);
  }
}

/** The lock of one long run (qrv cron), taken without waiting; null when a live process holds it. */
export async function tryRunLock(home: string, name: string): Promise<(() => Promise<void>) | null> {
  const lock = await acquire(home, `${name}.lock`, 0);
  if (!('handle' in lock)) return null;
  return () => release(lock);
}
