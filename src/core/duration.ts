// Durations as admins write them in cron jobs and policies: "90s", "30m", "12h", "7d", "2w",
// or "forever". Parsing is the `ms` package's; this adds the refusal of anything it would guess at.
import ms from 'ms';
import { QrvError } from './errors.ts';

const FORM =
  /^\s*\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|y|yrs?|years?)\s*$/i;

/** The longest a duration may be, and why: refused at parse time, before anything runs. */
export interface DurationLimit {
  ms: number;
  /** how the limit is named in the error, e.g. "100 years" */
  text: string;
  /** the largest value to suggest, in the form admins write, e.g. "100y" */
  most: string;
  /** why there is a limit at all */
  why: string;
}

/**
 * Every duration: a point in time this far away is still a date (JavaScript's end at 275760
 * is far off), and nothing qrv keeps or waits for is meant to last longer. "forever" is the
 * way to say "until removed".
 */
export const DURATION_LIMIT: DurationLimit = {
  ms: ms('100y'),
  text: '100 years',
  most: '100y',
  why: 'a longer time is not a date qrv keeps; where no end makes sense, say "forever"',
};

/** What qrv waits for with a timer (--hook-timeout): Node fires a longer timer at once. */
export const TIMER_LIMIT: DurationLimit = {
  ms: 2 ** 31 - 1,
  text: '24 days (2^31-1 ms)',
  most: '24d',
  why: 'a timer cannot wait longer',
};

/** Milliseconds, or null for "forever"; longer than `limit` is refused with the limit and why. */
export function parseDuration(text: string, what = 'duration', limit: DurationLimit = DURATION_LIMIT): number | null {
  if (/^\s*(forever|never|none)\s*$/i.test(text)) return null;
  const value = FORM.test(text) ? ms(text.trim() as ms.StringValue) : undefined;
  if (typeof value === 'number' && value > limit.ms) {
    throw new QrvError(
      'usage',
      'duration-too-long',
      `${what} "${text}" is longer than the limit of ${limit.text}`,
      `give ${limit.most} or less: ${limit.why}`,
    );
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new QrvError(
      'usage',
      'bad-duration',
      `${what} "${text}" is not a duration`,
      'write a number and a unit, e.g. 90s, 30m, 12h, 7d, 2w, or "forever"',
    );
  }
  return value;
}

/** ISO time `durationMs` after `from`, or null for forever. */
export function untilFrom(from: Date, durationMs: number | null): string | null {
  return durationMs === null ? null : new Date(from.getTime() + durationMs).toISOString();
}

/** Human form of a byte count, binary units (what df -h and lsblk show). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  const digits = (v: number) => (v < 10 ? 2 : 1);
  // Move up while the value, as it will be printed, would reach 1024 (1 MiB - 1 is "1.00 MiB").
  while (unit < units.length - 1 && Number(value.toFixed(unit === 0 ? 0 : digits(value))) >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(digits(value))} ${units[unit]}`;
}

/** Seconds as "1h02m", "3m05s", "12s", "4.5s". */
export function formatSeconds(seconds: number): string {
  if (seconds < 59.5) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(rest).padStart(2, '0')}s`;
}
