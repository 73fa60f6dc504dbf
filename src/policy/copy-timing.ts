// When a policy's copy phase runs: "now" (right after the snapshot), "after:<duration>" (once
// the snapshot is that old), "at:HH:MM" (the first such time of day after the snapshot), or
// "oldest:<N>" (keep the newest N snapshots uncopied and copy the ones that fall out), or "never".
import { parseDuration } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';

export type CopyTiming =
  | { mode: 'now' }
  | { mode: 'never' }
  | { mode: 'after'; ms: number }
  | { mode: 'at'; hour: number; minute: number }
  | { mode: 'oldest'; keep: number };

const BAD = (text: string) =>
  new QrvError(
    'usage',
    'bad-copy-timing',
    `--copy "${text}" is not a copy timing`,
    'use now, never, after:<duration> (after:2h), at:<HH:MM> (at:02:30) or oldest:<N> (oldest:3)',
  );

export function parseCopyTiming(text: string): CopyTiming {
  if (text === 'now' || text === 'never') return { mode: text };
  if (!text.includes(':')) throw BAD(text);
  const [mode, value = ''] = [text.slice(0, text.indexOf(':')), text.slice(text.indexOf(':') + 1)];
  if (mode === 'after') {
    const ms = (() => {
      try {
        return parseDuration(value, '--copy after:');
      } catch {
        throw BAD(text);
      }
    })();
    if (ms === null) throw BAD(text);
    return { mode, ms };
  }
  if (mode === 'at') {
    const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(value);
    if (!match) throw BAD(text);
    return { mode, hour: Number(match[1]), minute: Number(match[2]) };
  }
  if (mode === 'oldest' && /^\d+$/.test(value) && Number(value) >= 1) return { mode, keep: Number(value) };
  throw BAD(text);
}

/** The first local HH:MM strictly after `from`. */
export function nextTimeOfDay(from: Date, hour: number, minute: number): Date {
  const at = new Date(from);
  at.setHours(hour, minute, 0, 0);
  if (at.getTime() <= from.getTime()) at.setDate(at.getDate() + 1);
  return at;
}

/**
 * Whether the copy of a snapshot taken at `createdAt` is due at `now`. For "oldest:N",
 * `newerUncopied` is how many uncopied snapshots of the same volume are newer than this one.
 */
export function copyDue(timing: CopyTiming, createdAt: Date, now: Date, newerUncopied: number): boolean {
  switch (timing.mode) {
    case 'now':
      return true;
    case 'never':
      return false;
    case 'after':
      return now.getTime() - createdAt.getTime() >= timing.ms;
    case 'at':
      return nextTimeOfDay(createdAt, timing.hour, timing.minute).getTime() <= now.getTime();
    case 'oldest':
      return newerUncopied >= timing.keep;
  }
}
