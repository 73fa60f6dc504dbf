// `qrv check`: a monitoring check in the Nagios plugin format (issue #3). It reads the catalog,
// never changes it (nor creates the home), and judges four things against thresholds:
//   - snapshots: a scheduled volume whose newest snapshot is N scheduled runs old, or any volume
//     whose newest snapshot is older than --max-snap-age;
//   - QRVs that were not updated for long, or that failed;
//   - pools whose capacity is mostly reserved, or that have no free member;
//   - jobs that failed recently and were not followed by a successful one of the same kind and volume;
//   - what `qrv doctor` would find in the catalog (a killed job, an interrupted QRV update, a
//     leaked snapshot: ./doctor-findings.ts), each a warning that names `qrv doctor`.
// `evaluate` is pure (data and clock in, report out) so that tests are exact.
import path from 'node:path';
import { Cron } from 'croner';
import type { CatalogData, Job, Snapshot, Volume } from '../catalog/schema.ts';
import { readCatalogOnly } from '../catalog/store.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import {
  STATUS_EXIT,
  type CheckReport,
  type PerfDatum,
  type Problem,
  type Severity,
  type Status,
} from '../check/nagios.ts';
import type { CheckThresholds } from '../check/thresholds.ts';
import { latest, MAX_COUNTED_RUNS, runsBetween, schedulesOf, type VolumeSchedule } from './check-schedules.ts';
import { catalogFindings, type Finding } from './doctor-findings.ts';

/** Snapshot states that mean the snapshot was taken (a removed one was taken, then removed after its copy). */
const TAKEN: ReadonlySet<Snapshot['state']> = new Set(['ready', 'removing', 'removed']);

/** "45s", "12m", "5h07m", "3d04h": how long ago, as a glance at a dashboard wants it. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
const time = (text: string) => new Date(text).getTime();
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function judge(
  value: number,
  warnAt: number | null,
  critAt: number | null,
  reached: (value: number, threshold: number) => boolean,
): Severity | null {
  if (critAt !== null && reached(value, critAt)) return 'critical';
  if (warnAt !== null && reached(value, warnAt)) return 'warning';
  return null;
}
const atLeast = (value: number, threshold: number) => value >= threshold;
const above = (value: number, threshold: number) => value > threshold;

/** Each volume's newest taken snapshot, in one pass over the snapshots (10,000 of them: once, not once per volume). */
function newestTaken(data: CatalogData): Map<string, { snapshot: Snapshot; at: number }> {
  const newest = new Map<string, { snapshot: Snapshot; at: number }>();
  for (const s of data.snapshots) {
    if (!TAKEN.has(s.state)) continue;
    const at = time(s.createdAt);
    const best = newest.get(s.volume);
    if (!best || at > best.at) newest.set(s.volume, { snapshot: s, at });
  }
  return newest;
}

type PerfLimits = Pick<PerfDatum, 'warn' | 'crit' | 'min' | 'max'>;

class Findings {
  readonly problems: Problem[] = [];
  readonly perfdata: PerfDatum[] = [];
  add(severity: Severity | null, problem: Omit<Problem, 'severity'>): void {
    if (severity) this.problems.push({ severity, ...problem });
  }
  /** A perfdatum: no thresholds, and from 0 up without a maximum, unless `limits` says otherwise. */
  perf(label: string, value: number, uom: PerfDatum['uom'], limits: Partial<PerfLimits> = {}): void {
    const { warn = null, crit = null, min = 0, max = null } = limits;
    this.perfdata.push({ label, value, uom, warn, crit, min, max });
  }
}

const seconds = (ms: number) => Math.floor(ms / 1000);
const secondsOrNull = (ms: number | null) => (ms === null ? null : seconds(ms));

/** What the snapshot checks of every volume share. */
interface SnapshotScan {
  now: Date;
  t: CheckThresholds;
  out: Findings;
  /** where counting missed runs stops */
  limit: number;
  /** a schedule's cron, or null when it is not one (warned about once per policy) */
  cronOf: (schedule: VolumeSchedule) => Cron | null;
}

/** Each volume's newest snapshot against its schedule and against --max-snap-age; returns how many volumes are scheduled. */
function checkSnapshots(data: CatalogData, now: Date, t: CheckThresholds, out: Findings): number {
  let scheduled = 0;
  const scan: SnapshotScan = { now, t, out, limit: Math.max(MAX_COUNTED_RUNS, t.snapCrit), cronOf: cronParser(out) };
  const newestOf = newestTaken(data);
  for (const volume of data.volumes) {
    const newest = newestOf.get(volume.name)?.snapshot ?? null;
    const newestAt = newest ? new Date(newest.createdAt) : null;
    if (newestAt)
      out.perf(`snapshot_age_${volume.name}`, seconds(now.getTime() - newestAt.getTime()), 's', {
        warn: secondsOrNull(t.maxSnapAgeWarnMs),
        crit: secondsOrNull(t.maxSnapAgeCritMs),
      });
    const schedules = schedulesOf(data, volume);
    if (schedules.length) scheduled += 1;
    checkMissedRuns(scan, volume, schedules, newestAt);
    checkSnapshotAge(scan, volume, newestAt);
  }
  return scheduled;
}

/** Parses schedules, warning once per policy whose stored schedule is not a cron expression. */
function cronParser(out: Findings): (schedule: VolumeSchedule) => Cron | null {
  const badSchedules = new Set<string>();
  return (schedule) => {
    try {
      return new Cron(schedule.expression, { paused: true });
    } catch (error) {
      if (!badSchedules.has(schedule.policy)) {
        badSchedules.add(schedule.policy);
        out.add('warning', {
          check: 'schedule',
          subject: schedule.policy,
          message: `policy ${schedule.policy}: schedule "${schedule.expression}" is not a cron expression (${(error as Error).message}); its volumes' snapshots are not checked against it`,
        });
      }
      return null;
    }
  };
}

/** The newest snapshot against the schedule: how many scheduled runs have passed without one (the worst schedule's). */
function checkMissedRuns(scan: SnapshotScan, volume: Volume, schedules: VolumeSchedule[], newestAt: Date | null): void {
  const { now, t, out, limit } = scan;
  let worst: { schedule: VolumeSchedule; runs: number; since: Date } | null = null;
  for (const schedule of schedules) {
    const cron = scan.cronOf(schedule);
    if (!cron) continue;
    // A snapshot older than the rule does not make the rule's first runs missed ones.
    const since = newestAt ? latest(newestAt, schedule.since) : schedule.since;
    const runs = runsBetween(cron, since, now, limit);
    if (!worst || runs > worst.runs) worst = { schedule, runs, since };
  }
  if (!worst) return;
  const { schedule, runs, since } = worst;
  out.perf(`missed_runs_${volume.name}`, runs, '', { warn: t.snapWarn - 1, crit: t.snapCrit - 1 });
  const via =
    schedule.subclient === null
      ? `policy ${schedule.policy}`
      : `policy ${schedule.policy} of sub-client ${schedule.subclient}`;
  const counted = runs >= limit ? `${runs} or more` : String(runs);
  const what = `${counted} scheduled ${runs === 1 ? 'run' : 'runs'} of "${schedule.expression}" (${via}) passed without a snapshot`;
  const scheduledAgo = `${iso(since)}, ${formatAge(now.getTime() - since.getTime())} ago`;
  const newestText = !newestAt
    ? `never snapshotted since it was scheduled (${scheduledAgo})`
    : newestAt.getTime() < since.getTime()
      ? `newest snapshot ${iso(newestAt)} is older than the schedule (${scheduledAgo})`
      : `newest snapshot ${iso(newestAt)} (${formatAge(now.getTime() - newestAt.getTime())} ago)`;
  out.add(judge(runs, t.snapWarn, t.snapCrit, atLeast), {
    check: 'snapshot-schedule',
    subject: volume.name,
    message: `volume ${volume.name}: ${what}; ${newestText}`,
  });
}

/** The newest snapshot against --max-snap-age, whatever the schedule. */
function checkSnapshotAge(scan: SnapshotScan, volume: Volume, newestAt: Date | null): void {
  const { now, t, out } = scan;
  if (t.maxSnapAgeWarnMs === null && t.maxSnapAgeCritMs === null) return;
  const since = newestAt ?? new Date(volume.addedAt);
  const old = now.getTime() - since.getTime();
  const severity = judge(old, t.maxSnapAgeWarnMs, t.maxSnapAgeCritMs, above);
  const limit =
    severity === 'critical'
      ? `--max-snap-age-crit ${formatAge(t.maxSnapAgeCritMs ?? 0)}`
      : `--max-snap-age ${formatAge(t.maxSnapAgeWarnMs ?? 0)}`;
  const message = newestAt
    ? `volume ${volume.name}: newest snapshot ${iso(newestAt)} is ${formatAge(old)} old (more than ${limit})`
    : `volume ${volume.name}: no snapshot since it was added ${iso(since)}, ${formatAge(old)} ago (more than ${limit})`;
  out.add(severity, { check: 'snapshot-age', subject: volume.name, message });
}

function checkQrvs(data: CatalogData, now: Date, t: CheckThresholds, out: Findings): number {
  let checked = 0;
  for (const q of data.qrvs) {
    // A promoted QRV is a volume's primary now, checked as a volume, not as a replica.
    if (q.state === 'removed' || q.state === 'promoted') continue;
    checked += 1;
    const name = `QRV ${q.id} of ${q.volume} (${q.destination})`;
    if (q.state === 'failed') {
      out.add('critical', {
        check: 'qrv',
        subject: q.id,
        message: `${name}: failed (last updated ${iso(new Date(q.updatedAt))}); copy to it again or remove it`,
      });
      continue;
    }
    if (q.lastVerify && !q.lastVerify.ok) {
      out.add('critical', {
        check: 'qrv',
        subject: q.id,
        message: `${name}: its last verify (${iso(new Date(q.lastVerify.at))}) found ${q.lastVerify.badBlocks} bad blocks; copy to it again (it compares every block) or recover from another QRV`,
      });
      continue;
    }
    const age = now.getTime() - time(q.updatedAt);
    out.perf(`qrv_age_${q.volume}_${q.id}`, seconds(age), 's', {
      warn: seconds(t.qrvWarnMs),
      crit: seconds(t.qrvCritMs),
    });
    const severity = judge(age, t.qrvWarnMs, t.qrvCritMs, above);
    const limit =
      severity === 'critical' ? `--qrv-crit ${formatAge(t.qrvCritMs)}` : `--qrv-warn ${formatAge(t.qrvWarnMs)}`;
    const state =
      q.state === 'copying'
        ? `still copying since ${iso(new Date(q.updatedAt))}`
        : `last updated ${iso(new Date(q.updatedAt))}`;
    out.add(severity, {
      check: 'qrv',
      subject: q.id,
      message: `${name}: ${state}, ${formatAge(age)} ago (more than ${limit})`,
    });
  }
  return checked;
}

function checkPools(data: CatalogData, t: CheckThresholds, out: Findings): void {
  for (const pool of data.pools) {
    const total = pool.members.reduce((sum, m) => sum + m.capacityBytes, 0);
    const taken = pool.members.filter((m) => m.qrvId !== null);
    const reserved = taken.reduce((sum, m) => sum + m.capacityBytes, 0);
    const free = pool.members.length - taken.length;
    const pct = total > 0 ? (reserved / total) * 100 : null;
    if (pct !== null)
      out.perf(`pool_used_${pool.name}`, Number(pct.toFixed(1)), '%', {
        warn: t.poolWarnPct,
        crit: t.poolCritPct,
        max: 100,
      });
    let severity = pct === null ? null : judge(pct, t.poolWarnPct, t.poolCritPct, atLeast);
    // A pool with no free member cannot give the next QRV a destination, however large it is.
    if (free === 0 && severity === null) severity = 'warning';
    if (!severity) continue;
    const members =
      pool.members.length === 0
        ? 'it has no members'
        : `${taken.length} of ${plural(pool.members.length, 'member')} reserved, ${free === 0 ? 'none free' : `${free} free`}`;
    const used =
      pct === null
        ? ''
        : `${pct.toFixed(1)}% of its capacity reserved (${formatBytes(reserved)} of ${formatBytes(total)}), `;
    out.add(severity, { check: 'pool', subject: pool.name, message: `pool ${pool.name}: ${used}${members}` });
  }
}

const jobTime = (job: Job) => time(job.endedAt ?? job.startedAt);

function checkJobs(data: CatalogData, now: Date, t: CheckThresholds, out: Findings): void {
  let failed = 0;
  for (const job of data.jobs) {
    if (job.state !== 'failed') continue;
    const ago = now.getTime() - jobTime(job);
    if (ago > t.failedWindowMs) continue;
    // A later job of the same kind on the same volume that succeeded makes this one history.
    const superseded = data.jobs.some(
      (other) =>
        other.state === 'succeeded' &&
        other.kind === job.kind &&
        other.volume === job.volume &&
        time(other.startedAt) > time(job.startedAt),
    );
    if (superseded) continue;
    failed += 1;
    const why = job.error ? `: ${job.error.message}` : '';
    out.add('critical', {
      check: 'job',
      subject: job.id,
      message: `job ${job.id} (${job.kind} ${job.volume}) failed ${formatAge(ago)} ago${why}; \`qrv show ${job.id}\` lists its steps`,
    });
  }
  out.perf('failed_jobs', failed, '', { crit: 0 });
}

/** Judges the catalog at `now`. Pure: the same data, clock and thresholds give the same report. */
export function evaluate(
  data: CatalogData,
  now: Date,
  thresholds: CheckThresholds,
  doctor: Finding[] = [],
): CheckReport {
  const out = new Findings();
  for (const finding of doctor)
    out.add('warning', { check: 'doctor', subject: finding.subject, message: `${finding.what} (run \`qrv doctor\`)` });
  const scheduled = checkSnapshots(data, now, thresholds, out);
  const qrvs = checkQrvs(data, now, thresholds, out);
  checkPools(data, thresholds, out);
  checkJobs(data, now, thresholds, out);

  const critical = out.problems.filter((p) => p.severity === 'critical');
  const warning = out.problems.filter((p) => p.severity === 'warning');
  const problems = [...critical, ...warning];
  const status: Status = critical.length ? 'CRITICAL' : warning.length ? 'WARNING' : 'OK';
  const checked = { volumes: data.volumes.length, scheduled, qrvs, pools: data.pools.length, jobs: data.jobs.length };
  const text = problems[0]
    ? `${[critical.length ? `${critical.length} critical` : '', warning.length ? plural(warning.length, 'warning') : ''].filter(Boolean).join(', ')}: ${problems[0].message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`
    : `${plural(checked.volumes, 'volume')} (${scheduled} scheduled), ${plural(qrvs, 'QRV')}, ${plural(checked.pools, 'pool')}: no problems`;
  return { status, exitCode: STATUS_EXIT[status], text, problems, perfdata: out.perfdata, checked };
}

/**
 * Reads and validates `<home>/catalog.json` without the lock (writes are atomic renames) and
 * without creating anything: a check must not invent an empty catalog where none is.
 */
export async function readCatalogFile(home: string): Promise<CatalogData> {
  let read: Awaited<ReturnType<typeof readCatalogOnly>>;
  try {
    read = await readCatalogOnly(home);
  } catch (error) {
    if (error instanceof QrvError) throw error;
    throw new QrvError(
      'catalog',
      'catalog-unreadable',
      `cannot read catalog ${path.join(home, 'catalog.json')}: ${(error as Error).message}`,
      'run the check as a user that can read the qrv home (e.g. through sudo), or pass --home',
    );
  }
  if (read.data === null) {
    throw new QrvError(
      'catalog',
      'catalog-missing',
      `no catalog at ${read.file}`,
      'pass --home or set QRV_HOME to the home the qrv jobs use; an agent running as another user has another default home',
    );
  }
  return read.data;
}

/** `qrv check`: the catalog of `home` judged at `now`. */
export async function check(request: { home: string; now: Date; thresholds: CheckThresholds }): Promise<CheckReport> {
  const data = await readCatalogFile(request.home);
  return evaluate(
    data,
    request.now,
    request.thresholds,
    catalogFindings(data, request.home).map((f) => f.finding),
  );
}
