// Cron expressions for when `qrv cron` snapshots a sub-client (croner parses them).
import { Cron } from 'croner';
import { QrvError } from '../core/errors.ts';

export function parseSchedule(expression: string): Cron {
  try {
    return new Cron(expression, { paused: true });
  } catch (error) {
    throw new QrvError(
      'usage',
      'bad-schedule',
      `--schedule "${expression}" is not a cron expression (${(error as Error).message})`,
      'five fields: minute hour day-of-month month day-of-week, e.g. "0 */6 * * *"',
    );
  }
}

/** Due when a scheduled time has come since `since` (the last snapshot, or when the rule began). */
export function scheduleDue(expression: string, since: Date, now: Date): boolean {
  const next = parseSchedule(expression).nextRun(since);
  return next !== null && next.getTime() <= now.getTime();
}
