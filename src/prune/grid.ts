// The retention grid of sanoid, snapper and zrepl, for archive generations: "24h,7d,4w,12m" keeps
// the newest generation of each of the last 24 hours, 7 days, 4 weeks and 12 months. Pure: the
// choice depends on the items, the grid and the clock given, nothing else, so tests are exact.
//
// Exactly what selectByGrid does:
//
// - Buckets are calendar units in UTC: an hour (13:00:00.000–13:59:59.999), a day (from 00:00),
//   an ISO week (Monday 00:00 to Sunday 23:59:59.999, labelled with its ISO week-numbering year,
//   so 2027-01-01, a Friday, is in 2026-W53), a month, a year.
// - A rule N×unit covers the N most recent buckets of that unit counting back from the bucket
//   that holds `now`, that one included: 24h at 13:30 covers the hours 14:00 yesterday to 13:59
//   today. In each covered bucket it keeps the newest item; every other item there it does not keep.
// - "Newest" is the later pointInTime (compared as instants, whatever the zone it is written in);
//   items at the same instant are ordered by id, the higher id (by code point) being the newer.
// - An item kept by several rules is kept for the first of them in the grid's order: with
//   "24h,7d" the newest of the current hour says "newest of hour …", not "newest of day …".
// - An item whose pointInTime is later than `now` is kept ("newer than now"), and takes no part in
//   the buckets: a clock that was ahead somewhere does not push an older item out of its bucket.
// - The newest item of all is always kept: if no rule keeps it (an empty grid's window, or all
//   items older than every rule reaches), its reason is "the newest generation".
// - An item whose pointInTime is not a time is kept (the safe side), and said so.
// - Every other item is removed: "outside the grid 24h,7d,4w,12m", followed, when it lies inside
//   a rule's window but a newer item holds its bucket, by which one holds it in the first such
//   rule ("(a-… holds hour 2026-12-04 13h)").
// - The grid's text: rules "<count><unit>" joined by commas, in any order, each unit once, counts
//   1 to 999999; units h, d, w, m (months, as in sanoid: never minutes), y, lower case only.
import { QrvError } from '../core/errors.ts';

export const GRID_UNITS = ['h', 'd', 'w', 'm', 'y'] as const;
export type GridUnit = (typeof GRID_UNITS)[number];

export interface GridRule {
  unit: GridUnit;
  /** how many buckets of `unit`, counting back from the one that holds now (1 or more) */
  count: number;
}

export type Grid = GridRule[];

export interface GridItem {
  id: string;
  /** an ISO date-time */
  pointInTime: string;
}

export interface GridChoice<T extends GridItem> {
  item: T;
  keep: boolean;
  reason: string;
}

const UNIT_NAMES: Record<GridUnit, string> = { h: 'hour', d: 'day', w: 'week', m: 'month', y: 'year' };
const EXAMPLE =
  'write counts and units separated by commas, e.g. 24h,7d,4w,12m (h hours, d days, w weeks, m months, y years)';
const MAX_COUNT = 999_999;

function badGrid(text: string, why: string): QrvError {
  return new QrvError('usage', 'usage', `retention grid "${text}" ${why}`, EXAMPLE);
}

function parseRule(text: string, part: string): GridRule {
  const match = /^(\d+)([a-zA-Z]*)$/.exec(part);
  if (!match) throw badGrid(text, `has "${part}", which is not a count followed by a unit`);
  const digits = match[1] as string;
  const unit = match[2] as string;
  if (unit === '') throw badGrid(text, `has "${part}" without a unit`);
  if (!(GRID_UNITS as readonly string[]).includes(unit))
    throw badGrid(text, `has "${part}", whose unit "${unit}" is not one of h, d, w, m, y`);
  const count = Number(digits);
  if (count === 0) throw badGrid(text, `has "${part}": a count of zero keeps nothing`);
  if (count > MAX_COUNT) throw badGrid(text, `has "${part}": a count must be at most ${MAX_COUNT}`);
  return { unit: unit as GridUnit, count };
}

/** "24h,7d,4w,12m" → rules in the order written; spaces around the commas are allowed. */
export function parseGrid(text: string): Grid {
  if (text.trim() === '') throw badGrid(text, 'is empty');
  const grid: Grid = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') throw badGrid(text, 'has an empty part between commas');
    const rule = parseRule(text, part);
    const twice = grid.find((r) => r.unit === rule.unit);
    if (twice)
      throw badGrid(text, `names ${UNIT_NAMES[rule.unit]}s twice (${formatRule(twice)} and ${formatRule(rule)})`);
    grid.push(rule);
  }
  return grid;
}

function formatRule(rule: GridRule): string {
  return `${rule.count}${rule.unit}`;
}

/** The grid as parseGrid reads it: "24h,7d,4w,12m". */
export function formatGrid(grid: Grid): string {
  return grid.map(formatRule).join(',');
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Days since 1970-01-01 (a Thursday) of the instant `ms`, in UTC. */
function dayIndex(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The bucket of `unit` that holds the instant `ms`, as a number that grows by one per bucket. */
export function bucketIndex(unit: GridUnit, ms: number): number {
  const date = new Date(ms);
  switch (unit) {
    case 'h':
      return Math.floor(ms / HOUR_MS);
    case 'd':
      return dayIndex(ms);
    case 'w':
      // day 4 (1970-01-05) was a Monday: weeks start on the days where (day + 3) % 7 === 0
      return Math.floor((dayIndex(ms) + 3) / 7);
    case 'm':
      return date.getUTCFullYear() * 12 + date.getUTCMonth();
    case 'y':
      return date.getUTCFullYear();
  }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** The ISO week of the instant `ms`: "2026-W48" (the year of its Thursday). */
function isoWeek(ms: number): string {
  const day = dayIndex(ms);
  const mondayBased = (((day + 3) % 7) + 7) % 7;
  const thursday = new Date((day - mondayBased + 3) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const firstOfYear = Date.UTC(year, 0, 1) / DAY_MS;
  const week = Math.floor((thursday.getTime() / DAY_MS - firstOfYear) / 7) + 1;
  return `${year}-W${pad(week)}`;
}

/** How a bucket is named in a reason: "hour 2026-12-04 13h", "week 2026-W48", "month 2026-11". */
export function bucketLabel(unit: GridUnit, ms: number): string {
  const d = new Date(ms);
  const y = pad(d.getUTCFullYear(), 4);
  const day = `${y}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  switch (unit) {
    case 'h':
      return `hour ${day} ${pad(d.getUTCHours())}h`;
    case 'd':
      return `day ${day}`;
    case 'w':
      return `week ${isoWeek(ms)}`;
    case 'm':
      return `month ${y}-${pad(d.getUTCMonth() + 1)}`;
    case 'y':
      return `year ${y}`;
  }
}

interface Placed<T extends GridItem> {
  item: T;
  ms: number;
}

/** Newer first: the later instant, then the higher id. */
function newerFirst<T extends GridItem>(a: Placed<T>, b: Placed<T>): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  return a.item.id < b.item.id ? 1 : a.item.id > b.item.id ? -1 : 0;
}

/** What the rules say of an item: kept as the newest of a bucket, or inside a window whose bucket another holds. */
type Verdict = { kept: string } | { heldBy: string };

/** The verdict of each item placed (at or before now, newest first) that some rule's window holds. */
function judgeByRules<T extends GridItem>(placed: Placed<T>[], grid: Grid, now: number): Map<T, Verdict> {
  const verdicts = new Map<T, Verdict>();
  for (const rule of grid) {
    const holders = new Map<number, Placed<T>>();
    const nowBucket = bucketIndex(rule.unit, now);
    for (const p of placed) {
      const bucket = bucketIndex(rule.unit, p.ms);
      if (nowBucket - bucket >= rule.count) continue;
      const earlier = verdicts.get(p.item);
      const holder = holders.get(bucket);
      if (!holder) {
        holders.set(bucket, p);
        if (!earlier || !('kept' in earlier))
          verdicts.set(p.item, { kept: `newest of ${bucketLabel(rule.unit, p.ms)}` });
      } else if (!earlier)
        verdicts.set(p.item, { heldBy: `(${holder.item.id} holds ${bucketLabel(rule.unit, p.ms)})` });
    }
  }
  return verdicts;
}

/** Which items the grid keeps at `now`, in the order given, each with its reason (see the file's header). */
export function selectByGrid<T extends GridItem>(items: readonly T[], grid: Grid, now: Date): GridChoice<T>[] {
  const nowMs = now.getTime();
  const outside = `outside the grid ${formatGrid(grid)}`;
  const valid: Placed<T>[] = [];
  for (const item of items) {
    const ms = Date.parse(item.pointInTime);
    if (Number.isFinite(ms)) valid.push({ item, ms });
  }
  valid.sort(newerFirst);
  const newestOfAll = valid[0]?.item;
  const placed = valid.filter((p) => p.ms <= nowMs);
  const verdicts = judgeByRules(placed, grid, nowMs);
  const at = new Map(valid.map((p) => [p.item, p.ms] as const));
  return items.map((item): GridChoice<T> => {
    const ms = at.get(item);
    if (ms === undefined)
      return { item, keep: true, reason: `its point in time ${JSON.stringify(item.pointInTime)} is not a time` };
    if (ms > nowMs) return { item, keep: true, reason: 'newer than now' };
    const verdict = verdicts.get(item);
    if (verdict && 'kept' in verdict) return { item, keep: true, reason: verdict.kept };
    if (item === newestOfAll) return { item, keep: true, reason: 'the newest generation' };
    return { item, keep: false, reason: verdict ? `${outside} ${verdict.heldBy}` : outside };
  });
}
