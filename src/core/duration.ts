// Durations as admins write them in cron jobs and policies: "90s", "30m", "12h", "7d", "2w",
// or "forever". Parsing is the `ms` package's; this adds the refusal of anything it would guess at.
import ms from 'ms';
import { QrvError } from './errors.ts';

const FORM = /^\s*\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|y|yrs?|years?)\s*$/i;

/** Milliseconds, or null for "forever". */
export function parseDuration(text: string, what = 'duration'): number | null {
  if (/^\s*(forever|never|none)\s*$/i.test(text)) return null;
  const value = FORM.test(text) ? ms(text.trim() as ms.StringValue) : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new QrvError('usage', 'bad-duration', `${what} "${text}" is not a duration`, 'write a number and a unit, e.g. 90s, 30m, 12h, 7d, 2w, or "forever"');
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
