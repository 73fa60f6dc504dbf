// One writer at a time. proper-lockfile keeps the lock fresh while it is held, so a holder that
// crashed or was killed leaves a lock that goes stale after STALE_MS and is then taken over,
// instead of blocking qrv for ever. Catalog updates are short; waiting up to WAIT_MS for one is
// enough, and past that the user is told who to wait for.
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { QrvError } from '../core/errors.ts';

const STALE_MS = 10_000;
const WAIT_MS = Number(process.env.QRV_LOCK_WAIT_MS ?? 15_000);

export async function withLock<T>(home: string, work: () => Promise<T>): Promise<T> {
  const lockPath = path.join(home, 'catalog.lock');
  let release: () => Promise<void>;
  try {
    // proper-lockfile keeps its in-process state by the locked file's path: each lock names its
    // own (catalog.json here, the run's name for tryRunLock), or one lock's refresh timer
    // would find the other's state and crash.
    release = await lockfile.lock(path.join(home, 'catalog.json'), {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
      retries: { retries: Math.max(1, Math.ceil(WAIT_MS / 250)), factor: 1, minTimeout: 250, maxTimeout: 250 },
      onCompromised: () => {
        // Another process took the lock over (ours was not refreshed in time). The write in
        // progress is still atomic; there is nothing safe to do but carry on and let it finish.
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new QrvError('busy', 'catalog-locked', `another qrv is changing the catalog in ${home}`, 'wait for it to finish and run the command again');
    }
    throw error;
  }
  try {
    return await work();
  } finally {
    await release().catch(() => undefined);
  }
}

/**
 * The lock of one long run (qrv cron): taken without waiting; null when another process holds
 * it. Kept fresh while held, so a killed holder's lock goes stale after STALE_MS.
 */
export async function tryRunLock(home: string, name: string): Promise<(() => Promise<void>) | null> {
  try {
    return await lockfile.lock(path.join(home, name), { lockfilePath: path.join(home, `${name}.lock`), realpath: false, stale: STALE_MS, retries: 0, onCompromised: () => undefined });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return null;
    throw error;
  }
}
