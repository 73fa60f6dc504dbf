// flock(2) for a descriptor of this process. Node has no flock(), so the one-shot util-linux
// `flock` is given the descriptor as its fd 3 and locks the open file description they share;
// it exits at once, and the lock stays with our descriptor until its last copy closes (the
// process ending, however it ends, closes it). Used by the catalog's locks (catalog/lock.ts)
// and by the VM lane's slots (test/helpers/vm-slot.ts).
import type { FileHandle } from 'node:fs/promises';
import { QrvError } from '../core/errors.ts';
import { tool } from './tools.ts';

/** flock's exit status when the lock was not got in time (-E). */
const CONFLICT = 75;

/** flock(LOCK_EX) on `handle`, waiting up to waitMs (0: not at all); false when another holds it. */
export async function flockExclusive(handle: FileHandle, waitMs: number): Promise<boolean> {
  const wait = waitMs > 0 ? ['-w', (waitMs / 1000).toFixed(3)] : ['-n'];
  // execa passes any descriptor number through; its types only name 3 to 9.
  const fd = handle.fd as 3;
  const result = await tool('flock', ['-x', ...wait, '-E', String(CONFLICT), '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  });
  if (result.exitCode === 0) return true;
  if (result.exitCode === CONFLICT) return false;
  throw new QrvError(
    'io',
    'tool-failed',
    `flock on ${handle.fd} failed with status ${result.exitCode}: ${result.stderr.trim().split('\n').pop() ?? ''}`,
    'run the command again with --debug and report the output',
  );
}
