// The kernel's mirror copy has one speed setting, for every mirror at once (pvmove's too): dm_mirror's
// module parameter raid1_resync_throttle, the percentage of time kcopyd may spend copying (default 100).
// `--throttle 25%` sets that share; `--throttle 40M` (a rate) is kept by the qrv that waits for the
// copy: a Pacer reads how fast the copy goes and steers the share towards the rate.
import fs from 'node:fs/promises';
import { QrvError } from '../../core/errors.ts';
import { rateOf } from '../../core/rate.ts';
import { tool } from '../../system/tools.ts';

export const THROTTLE_FILE = '/sys/module/dm_mirror/parameters/raid1_resync_throttle';

/** A share of the kernel's time (all mirrors), or a rate for this copy, in bytes a second. */
export type Throttle = { percent: number } | { bytesPerSecond: number };

/** Where a rate starts: low, so the first second does not run at full speed. */
export const START_PERCENT = 5;
/** How long a Pacer measures before it changes the share. */
export const WINDOW_MS = 1000;

const badThrottle = (text: string): QrvError =>
  new QrvError(
    'usage',
    'usage',
    `--throttle ${text}: give a share of time from 1% to 100%, or a rate such as 40M (MiB a second; K, M, G)`,
    'e.g. --throttle 25% or --throttle 40M',
  );

/** `25%` → a share; `40M`, `40MiB/s`, `512K`, `1G` → a rate (binary units). */
export function parseThrottle(text: string): Throttle {
  const share = /^(\d+)\s*%$/.exec(text.trim());
  if (share) {
    const percent = Number(share[1]);
    if (percent < 1 || percent > 100) throw badThrottle(text);
    return { percent };
  }
  const bytesPerSecond = rateOf(text);
  if (bytesPerSecond === null) throw badThrottle(text);
  return { bytesPerSecond };
}

export async function setResyncThrottle(percent: number, file = THROTTLE_FILE): Promise<void> {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) throw badThrottle(String(percent));
  const write = () => fs.writeFile(file, `${percent}\n`);
  await write()
    .catch(async (error: NodeJS.ErrnoException) => {
      // Set before the first mirror exists (it copies from the moment it is made), when the
      // kernel may not have loaded dm-mirror yet: load it, as making the mirror would.
      if (error.code !== 'ENOENT' || file !== THROTTLE_FILE) throw error;
      await tool('modprobe', ['dm-mirror']);
      await write();
    })
    .catch((error: NodeJS.ErrnoException) => {
      throw new QrvError(
        'io',
        'write-failed',
        `cannot set ${file} (${error.code ?? error.message})`,
        'is the dm_mirror module loaded? (modprobe dm-mirror)',
      );
    });
}

/**
 * The next share, from the one in force and the rate it gave: towards the target by the square
 * root of the ratio (the rate is not quite proportional to the share: kcopyd's pauses and the
 * disks' own speed), within a tenth it stays, at least one step when it should move, 1-100.
 */
export function nextPercent(percent: number, rate: number, target: number): number {
  if (rate <= 0) return Math.min(100, percent * 2);
  const ratio = target / rate;
  if (Math.abs(ratio - 1) < 0.1) return percent;
  const factor = Math.min(4, Math.max(0.25, Math.sqrt(ratio)));
  let next = Math.round(percent * factor);
  if (next === percent) next += ratio > 1 ? 1 : -1;
  return Math.min(100, Math.max(1, next));
}

/** Keeps one mirror's copy near a rate while qrv waits for it (the share is global: see above). */
export class Pacer {
  private from: { ms: number; bytes: number } | null = null;

  constructor(
    readonly bytesPerSecond: number,
    public percent = START_PERCENT,
    private readonly set: (percent: number) => Promise<void> = (p) => setResyncThrottle(p),
  ) {}

  /** A reading of the copy (ms: a monotonic clock); once a window, a new share if it is off. */
  async observe(ms: number, doneBytes: number): Promise<void> {
    if (!this.from) {
      this.from = { ms, bytes: doneBytes };
      return;
    }
    const span = ms - this.from.ms;
    if (span < WINDOW_MS) return;
    const rate = ((doneBytes - this.from.bytes) * 1000) / span;
    this.from = { ms, bytes: doneBytes };
    const next = nextPercent(this.percent, rate, this.bytesPerSecond);
    if (next === this.percent) return;
    await this.set(next);
    this.percent = next;
  }
}
