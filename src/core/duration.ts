// Durations as admins write them in cron jobs and policies: "90s", "30m", "12h", "7d", "2w",
// or "forever". Parsing is the `ms` package's; this adds the refusal of anything it would guess at.
import ms from 'ms';
import { QrvError } from './errors.ts';

const FORM = /^\s*\d+(\.\d+)?\s*(ms|s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|week|weeks|y|year|years)\s*$/i;

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
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Seconds as "1h02m", "3m05s", "12.3s". */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(rest).padStart(2, '0')}s`;
}
