// Points in time as admins type them: an ISO date or date-time ("2026-11-25", "2026-11-25T18:00",
// with or without a zone), "now", or "<duration> ago" ("2h ago").
import { parseDuration } from './duration.ts';
import { QrvError } from './errors.ts';

export function parseTime(text: string, now: Date, what = 'time'): Date {
  const trimmed = text.trim();
  if (/^now$/i.test(trimmed)) return now;
  const ago = /^(.+?)\s+ago$/i.exec(trimmed);
  if (ago) {
    const ms = parseDuration(ago[1] as string, what);
    if (ms !== null) return new Date(now.getTime() - ms);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (Number.isFinite(at)) return new Date(at);
  }
  throw new QrvError('usage', 'bad-time', `${what} "${text}" is not a time`, 'give an ISO time (2026-11-25T18:00, 2026-11-25), "now" or "<duration> ago" (2h ago)');
}

/** --persist for `qrv set`: a duration counts from now; an ISO time is taken as it is. */
export function persistUntil(text: string, now: Date): string | null {
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return parseTime(text, now, '--persist').toISOString();
  const ms = parseDuration(text, '--persist');
  return ms === null ? null : new Date(now.getTime() + ms).toISOString();
}
