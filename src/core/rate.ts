// A rate of bytes a second, as admins write it (`40M`, `512K`, `1.5G`, `40MiB/s`: binary units),
// and a limit that keeps a stream of reads at or below it: a copy that must not starve the disks
// it reads and writes of the bandwidth their own users need (`qrv copy --throttle 40M`).
import { setTimeout as sleep } from 'node:timers/promises';
import { QrvError } from './errors.ts';

const UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
/** Below this, a copy of any real volume would take days: surely a mistaken unit. */
export const MIN_RATE = 64 * 1024;

/** `40M` → 41943040; null when the text is not a rate (the caller says what else it may be). */
export function rateOf(text: string): number | null {
  const rate = /^(\d+(?:\.\d+)?)\s*([KMG])(?:iB)?(?:\/s)?$/i.exec(text.trim());
  if (!rate) return null;
  const bytesPerSecond = Math.round(Number(rate[1]) * (UNITS[(rate[2] as string).toUpperCase()] as number));
  return bytesPerSecond >= MIN_RATE ? bytesPerSecond : null;
}

/** A `--throttle` rate for a copy: bytes a second, at least 64K. */
export function parseRate(text: string, option = '--throttle'): number {
  const rate = rateOf(text);
  if (rate === null)
    throw new QrvError(
      'usage',
      'bad-rate',
      `${option} ${text}: give a rate of at least 64K a second, such as 40M (MiB a second; K, M, G)`,
      `e.g. ${option} 40M`,
    );
  return rate;
}

/** `41943040` → `40 MiB/s`, for messages and summaries. */
export function rateText(bytesPerSecond: number): string {
  const unit = (['G', 'M', 'K'] as const).find((u) => bytesPerSecond >= (UNITS[u] as number));
  if (!unit) return `${bytesPerSecond} B/s`;
  return `${Number((bytesPerSecond / (UNITS[unit] as number)).toFixed(1))} ${unit}iB/s`;
}

/**
 * Keeps the bytes taken at or below a rate since the first take: each take waits until the
 * bytes so far are due. After a pause (a slow disk, a checkpoint) the reads may catch up with
 * a burst of one second's worth, no more.
 */
export class RateLimit {
  private start: number | null = null;
  private bytes = 0;

  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly wait: (ms: number) => Promise<unknown> = (ms) => sleep(ms),
  ) {}

  async take(bytes: number): Promise<void> {
    const now = this.now();
    this.start ??= now;
    // behind by more than a second: count from a second ago, a burst of a second's worth at most
    const behind = now - this.start - (this.bytes * 1000) / this.bytesPerSecond;
    if (behind > 1000) {
      this.start = now - 1000;
      this.bytes = 0;
    }
    this.bytes += bytes;
    const due = this.start + (this.bytes * 1000) / this.bytesPerSecond;
    if (due > now) await this.wait(due - now);
  }
}
