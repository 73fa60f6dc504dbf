// Freezing mounted filesystems for a snapshot (FIFREEZE through util-linux's fsfreeze), under a
// guard: a separate, detached process that thaws them if qrv does not say "thawed" in time
// (F1, F9). A write to a frozen filesystem blocks in uninterruptible sleep until the thaw — a qrv
// killed with SIGKILL, or hung, must never leave one frozen. The guard thaws at once when its pipe
// from qrv closes (qrv died) and after a deadline otherwise (qrv hangs).
import { readFile, realpath } from 'node:fs/promises';
import os from 'node:os';
import { startGuard } from './guard.ts';
import { QrvError } from '../core/errors.ts';
import { tool, toolOk } from './tools.ts';

import { guardDeadlineMs } from './freeze-deadline.ts';

export { DEFAULT_MAX_FREEZE_MS, guardDeadlineMs } from './freeze-deadline.ts';

/**
 * Whether a device suspend with lockfs (dm's, inside lvcreate) nests inside a FIFREEZE of the
 * same filesystem. From Linux 6.8 the block layer freezes with FREEZE_MAY_NEST ("fs: handle
 * freezing from multiple devices", merged with the bdev freeze holder operations it fixes); before,
 * the second freeze fails with EBUSY and lvcreate leaves a broken snapshot. Measured in the VM
 * lane: 6.1 refuses, 6.12 nests (docs/providers.md).
 */
export function blockFreezeNests(release = os.release()): boolean {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 6 || (major === 6 && minor >= 8);
}

/** Where the filesystems on these block devices are mounted (from /proc/self/mounts). */
export async function mountpointsOf(devices: string[]): Promise<string[]> {
  const wanted = new Set(await Promise.all(devices.map((d) => realpath(d).catch(() => d))));
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const [device, mountpoint] = line.split(' ');
    if (!device?.startsWith('/dev/') || !mountpoint) continue;
    // /proc/self/mounts escapes spaces and other bytes as octal.
    const point = mountpoint.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (wanted.has(await realpath(device).catch(() => device)) && !found.includes(point)) found.push(point);
  }
  return found;
}

export interface Freeze {
  /** what qrv froze (and thaws) */
  mountpoints: string[];
  /** what was frozen before qrv came (a pre-snapshot hook's fsfreeze): left for its owner to thaw */
  alreadyFrozen: string[];
  /** process.hrtime.bigint() just before the first filesystem began to freeze */
  since: bigint;
  /** the limit (--max-freeze) in ms: the guard thaws on its own by `since` + this at the latest */
  limitMs: number;
  /**
   * Whether qrv can be sure everything it froze is still frozen: the guard is alive and its
   * deadline (counted from before the guard started, so never later than the guard's own) has
   * not passed. Asked before the snapshot is taken and again before it is recorded.
   */
  held(): boolean;
  /** Thaws everything (always safe to call again) and dismisses the guard. */
  thaw(): Promise<void>;
}

/**
 * Freezes `mountpoints` in order under a guard. One that is frozen already (EBUSY: a pre-snapshot
 * hook froze it) is at rest as wanted and is left to whoever froze it. If one cannot be frozen,
 * those qrv froze are thawed and a QrvError says which and why.
 */
export async function freezeWithGuard(mountpoints: string[], deadlineMs = guardDeadlineMs()): Promise<Freeze> {
  const deadline = process.hrtime.bigint() + BigInt(Math.ceil(deadlineMs * 1e6));
  // The guard (guard-process.ts) thaws every mountpoint when its stdin closes (qrv is gone) or
  // the deadline passes, and exits quietly when told "thawed".
  const { guard } = await startGuard(
    'freeze',
    { QRV_GUARD_POINTS: JSON.stringify(mountpoints), QRV_GUARD_MS: String(deadlineMs) },
    { code: 'freeze-guard', name: 'freeze guard', nothingDone: 'nothing was frozen' },
  );

  let guardGone = false;
  void guard.then(() => {
    guardGone = true;
  });
  const held = () => !guardGone && process.hrtime.bigint() < deadline;
  const frozen: string[] = [];
  const alreadyFrozen: string[] = [];
  let thawed = false;
  const thaw = async (): Promise<void> => {
    if (thawed) return;
    thawed = true;
    // Past the deadline the guard may have thawed first: then fsfreeze -u finds nothing frozen,
    // which is what was wanted, not a failure.
    const guardMayHaveThawed = !held();
    const failures: string[] = [];
    for (const point of [...frozen].reverse()) {
      await toolOk('fsfreeze', ['-u', point]).catch((error: Error) => {
        if (!(guardMayHaveThawed && /Invalid argument/.test(error.message)))
          failures.push(`${point}: ${error.message}`);
      });
    }
    guard.stdin?.end('thawed\n');
    if (failures.length)
      throw new QrvError(
        'io',
        'thaw-failed',
        `could not thaw ${failures.join('; ')}`,
        'thaw it by hand with `fsfreeze -u MOUNTPOINT`; the guard also thaws it when its deadline passes',
      );
  };
  const since = process.hrtime.bigint();
  try {
    for (const point of mountpoints) {
      const result = await tool('fsfreeze', ['-f', point]);
      if (result.exitCode === 0) frozen.push(point);
      else if (/Device or resource busy/.test(result.stderr)) alreadyFrozen.push(point);
      else {
        const said = result.stderr.trim().split('\n').pop() ?? '';
        throw new QrvError(
          'io',
          'freeze-failed',
          `cannot freeze ${point}${said ? `: ${said}` : ''}`,
          'check that the filesystem supports freezing (ext4, XFS, btrfs do) and that qrv runs as root; nothing is left frozen',
        );
      }
    }
  } catch (error) {
    await thaw().catch(() => undefined);
    throw error;
  }
  return { mountpoints: frozen, alreadyFrozen, since, limitMs: deadlineMs, held, thaw };
}
