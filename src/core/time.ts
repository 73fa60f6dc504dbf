// Points in time as admins type them: an ISO date or date-time ("2026-11-25", "2026-11-25T18:00",
// with or without a zone), "now", "<duration> ago" ("2h ago"), and a day said in words with an
// optional clock time: "today", "yesterday", "today 09:30", "yesterday 18:00" (local time).
import { parseDuration } from './duration.ts';
import { QrvError } from './errors.ts';

/** "today"/"yesterday" [HH:MM[:SS]] → local time; null when the text is not of that form. */
function dayInWords(text: string, now: Date): Date | null {
  const match = /^(today|yesterday)(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/i.exec(text);
  if (!match) return null;
  const [, day, hh, mm, ss] = match;
  const hours = hh === undefined ? 0 : Number(hh);
  const minutes = mm === undefined ? 0 : Number(mm);
  const seconds = ss === undefined ? 0 : Number(ss);
  if (hours > 23 || minutes > 59 || seconds > 59) return null;
  const at = new Date(
    now.getFullYear(),
    now.getMonth(),
    now.getDate() - ((day as string).toLowerCase() === 'yesterday' ? 1 : 0),
    hours,
    minutes,
    seconds,
    0,
  );
  return at;
}

export function parseTime(text: string, now: Date, what = 'time'): Date {
  const trimmed = text.trim();
  if (/^now$/i.test(trimmed)) return now;
  const ago = /^(.+?)\s+ago$/i.exec(trimmed);
  if (ago) {
    const ms = parseDuration(ago[1] as string, what);
    if (ms !== null) return new Date(now.getTime() - ms);
  }
  const inWords = dayInWords(trimmed, now);
  if (inWords) return inWords;
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (Number.isFinite(at)) return new Date(at);
  }
  throw new QrvError(
    'usage',
    'bad-time',
    `${what} "${text}" is not a time`,
    'give an ISO time (2026-11-25T18:00, 2026-11-25), "now", "<duration> ago" (2h ago), or "today"/"yesterday" with an optional time (yesterday 18:00)',
  );
}

/** --persist for `qrv set`: a duration counts from now; an ISO time is taken as it is. */
export function persistUntil(text: string, now: Date): string | null {
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return parseTime(text, now, '--persist').toISOString();
  const ms = parseDuration(text, '--persist');
  return ms === null ? null : new Date(now.getTime() + ms).toISOString();
}
