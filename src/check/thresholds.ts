// The thresholds of `qrv check`, their defaults, and the parsing of the options that change them.
// Every bad value is a usage error (which `qrv check` reports as UNKNOWN, exit 3).
import { parseDuration } from '../core/duration.ts';
import { isQrvError, QrvError } from '../core/errors.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface CheckThresholds {
  /** WARNING when this many scheduled run times (or more) have passed since the newest snapshot */
  snapWarn: number;
  /** CRITICAL at this many */
  snapCrit: number;
  /** WARNING when a volume's newest snapshot is older than this, whatever its schedule (null: not checked) */
  maxSnapAgeWarnMs: number | null;
  /** CRITICAL when older than this (null: not checked) */
  maxSnapAgeCritMs: number | null;
  /** WARNING when a QRV was last updated longer ago than this */
  qrvWarnMs: number;
  /** CRITICAL when longer ago than this */
  qrvCritMs: number;
  /** WARNING when this percentage (or more) of a pool's capacity is reserved */
  poolWarnPct: number;
  /** CRITICAL at this percentage */
  poolCritPct: number;
  /** a failed job that ended within this long is CRITICAL (unless a later one of its kind and volume succeeded) */
  failedWindowMs: number;
}

export const DEFAULT_THRESHOLDS: CheckThresholds = {
  snapWarn: 2,
  snapCrit: 4,
  maxSnapAgeWarnMs: null,
  maxSnapAgeCritMs: null,
  qrvWarnMs: 2 * DAY,
  qrvCritMs: 7 * DAY,
  poolWarnPct: 80,
  poolCritPct: 95,
  failedWindowMs: DAY,
};

/** The option values as commander hands them over (strings, all optional). */
export interface CheckOptionValues {
  snapWarn?: string;
  snapCrit?: string;
  maxSnapAge?: string;
  maxSnapAgeCrit?: string;
  qrvWarn?: string;
  qrvCrit?: string;
  poolWarn?: string;
  poolCrit?: string;
  failedWindow?: string;
}

const bad = (option: string, value: string, want: string) =>
  new QrvError(
    'usage',
    'bad-threshold',
    `${option} "${value}" is not ${want}`,
    'see `qrv check --help` for the thresholds and their defaults',
  );

function count(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1)
    throw bad(option, value, 'a whole number of scheduled runs, 1 or more');
  return Number(value);
}

function duration(option: string, value: string | undefined, fallback: number): number;
function duration(option: string, value: string | undefined, fallback: null): number | null;
function duration(option: string, value: string | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  let ms: number | null;
  try {
    ms = parseDuration(value, option);
  } catch (error) {
    if (isQrvError(error) && error.code === 'duration-too-long')
      throw new QrvError('usage', 'bad-threshold', error.message, error.hint);
    throw bad(option, value, 'a duration such as 90m, 12h, 2d or 1w');
  }
  if (ms === null) throw bad(option, value, 'a finite duration such as 90m, 12h, 2d or 1w');
  return ms;
}

function percent(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value);
  const pct = match ? Number(match[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) throw bad(option, value, 'a percentage above 0 and at most 100 (e.g. 80 or 80%)');
  return pct;
}

function ordered(warnOption: string, warn: number | null, critOption: string, crit: number | null): void {
  if (warn !== null && crit !== null && warn > crit) {
    throw new QrvError(
      'usage',
      'bad-threshold',
      `${warnOption} is above ${critOption}`,
      'the warning threshold must not be above the critical one',
    );
  }
}

export function parseThresholds(options: CheckOptionValues): CheckThresholds {
  const d = DEFAULT_THRESHOLDS;
  const thresholds: CheckThresholds = {
    snapWarn: count('--snap-warn', options.snapWarn, d.snapWarn),
    snapCrit: count('--snap-crit', options.snapCrit, d.snapCrit),
    maxSnapAgeWarnMs: duration('--max-snap-age', options.maxSnapAge, null),
    maxSnapAgeCritMs: duration('--max-snap-age-crit', options.maxSnapAgeCrit, null),
    qrvWarnMs: duration('--qrv-warn', options.qrvWarn, d.qrvWarnMs),
    qrvCritMs: duration('--qrv-crit', options.qrvCrit, d.qrvCritMs),
    poolWarnPct: percent('--pool-warn', options.poolWarn, d.poolWarnPct),
    poolCritPct: percent('--pool-crit', options.poolCrit, d.poolCritPct),
    failedWindowMs: duration('--failed-window', options.failedWindow, d.failedWindowMs),
  };
  ordered('--snap-warn', thresholds.snapWarn, '--snap-crit', thresholds.snapCrit);
  ordered('--max-snap-age', thresholds.maxSnapAgeWarnMs, '--max-snap-age-crit', thresholds.maxSnapAgeCritMs);
  ordered('--qrv-warn', thresholds.qrvWarnMs, '--qrv-crit', thresholds.qrvCritMs);
  ordered('--pool-warn', thresholds.poolWarnPct, '--pool-crit', thresholds.poolCritPct);
  return thresholds;
}
