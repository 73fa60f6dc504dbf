// What `qrv doctor` finds in the catalog alone (no provider asked): copies that can be resumed,
// jobs whose process is gone, QRV updates that were interrupted (an undo journal beside a QRV
// that is not ready) or committed without removing their journal, and snapshots a killed `run`
// left that its rules would have copied and removed. One function for doctor and for `qrv check`
// (which warns when it finds any): cheap, it reads the catalog and looks whether files exist.
import { existsSync } from 'node:fs';
import type { CatalogData, Job, Qrv, Snapshot } from '../catalog/schema.ts';
import { undoPathFor } from '../copy/undo-journal.ts';
import { jobAlive, processGone } from '../engine/job-recorder.ts';
import { ledgerPathFor } from '../ledger/ledger.ts';
import { parseCopyTiming } from '../policy/copy-timing.ts';
import { resumeBlocker } from './copy.ts';
import { killedJob, killedRecovery } from '../engine/recovery-state.ts';

export interface Finding {
  kind:
    | 'resumable-copy'
    | 'resumable-archive'
    | 'resumable-recovery'
    | 'dead-job'
    | 'interrupted-update'
    | 'stale-journal'
    | 'leaked-snapshot'
    | 'orphan-snapshot'
    | 'missing-snapshot'
    | 'unfinished-snapshot'
    | 'invalid-snapshot'
    | 'leftover'
    | 'partial-qrv'
    | 'finished-hydration'
    | 'stopped-hydration'
    | 'failed-hydration';
  /** the job, snapshot id or provider handle it is about */
  subject: string;
  what: string;
  /** what --fix does */
  action: string;
  fixed: boolean;
  /** why the fix failed, when it did */
  error: string | null;
}

/** A finding with what `qrv doctor --fix` does about it. */
export interface Planned {
  finding: Finding;
  /** does it; may return a line saying what it did */
  fix: () => Promise<unknown>;
}

/** A finding with the rows its fix works on. */
export interface CatalogFinding {
  finding: Finding;
  job?: Job;
  qrv?: Qrv;
  snapshot?: Snapshot;
  /** leaked-snapshot: where the killed run was copying to (null: nowhere known) */
  dest?: string | null;
}

export const open = (kind: Finding['kind'], subject: string, what: string, action: string): Finding => ({
  kind,
  subject,
  what,
  action,
  fixed: false,
  error: null,
});

/** The undo journal and partial ledger of an update beside a ready QRV's ledger, where they exist. */
export function staleFiles(qrv: Qrv, home: string): string[] {
  const ledger = ledgerPathFor(qrv, home);
  return [undoPathFor(ledger), `${ledger}.partial`].filter((file) => existsSync(file));
}

/** The undo journal of a QRV's update (beside its ledger). */
export function journalOf(qrv: Qrv, home: string): string {
  return undoPathFor(ledgerPathFor(qrv, home));
}

function percent(job: Job): string {
  const p = job.progress;
  if (!p) return '';
  const blocks = Math.ceil(p.sizeBytes / p.blockSize);
  return ` at ${blocks ? Math.floor((p.blocksDone / blocks) * 100) : 100}% (block ${p.blocksDone} of ${blocks})`;
}

/** A recovery killed while it wrote: its target holds part of the copy and part of what it held. */
function recoveryFinding(job: Job, dead: boolean): CatalogFinding {
  const what = `the recovery of ${job.volume} from ${job.qrvId ?? job.snapshotId} onto ${job.destination} by job ${job.id} stopped${dead ? ` (process ${job.pid} is gone)` : ''}: it holds part of that copy and part of what it held before`;
  return { job, finding: open('resumable-recovery', job.id, what, `resume it: qrv recover --resume ${job.id}`) };
}

function jobFindings(data: CatalogData, home: string): CatalogFinding[] {
  const found: CatalogFinding[] = [];
  for (const job of data.jobs) {
    const dead = processGone(job);
    const generation = job.kind === 'archive' ? data.archives.find((a) => a.jobId === job.id) : undefined;
    if (generation && (generation.state === 'sending' || generation.state === 'failed') && killedJob(job)) {
      found.push({
        job,
        finding: open(
          'resumable-archive',
          job.id,
          `archive generation ${generation.id} of ${generation.volume} to store ${generation.store} by job ${job.id} stopped before its manifest was written${dead ? ` (process ${job.pid} is gone)` : ''}`,
          `resume it: qrv archive --resume ${job.id} (the chunks that arrived are not sent again)`,
        ),
      });
    } else if (killedRecovery(data, job)) {
      found.push(recoveryFinding(job, dead));
    } else if (resumeBlocker(data, job) === null) {
      const qrv = data.qrvs.find((q) => q.id === job.qrvId) as Qrv;
      const back = existsSync(journalOf(qrv, home))
        ? `; if it cannot go on, roll QRV ${qrv.id} back to its previous point in time`
        : '; if it cannot go on, give it up (QRV failed: copy again)';
      found.push({
        job,
        qrv,
        finding: open(
          'resumable-copy',
          job.id,
          `the copy of ${job.snapshotId} to QRV ${job.qrvId} by job ${job.id} stopped${percent(job)}${dead ? ` (process ${job.pid} is gone)` : ''}`,
          `resume it: qrv copy --resume ${job.id}${back}`,
        ),
      });
    } else if (dead) {
      found.push({
        job,
        finding: open(
          'dead-job',
          job.id,
          `job ${job.id} (${job.kind} of ${job.volume}) is marked running but process ${job.pid} is gone`,
          'mark it failed, and a QRV or snapshot it left half-made as failed',
        ),
      });
    }
  }
  return found;
}

function journalFindings(data: CatalogData, home: string, resumed: Set<string>): CatalogFinding[] {
  const found: CatalogFinding[] = [];
  for (const qrv of data.qrvs) {
    if (qrv.state === 'removed' || qrv.state === 'promoted' || resumed.has(qrv.id)) continue;
    if (data.jobs.some((j) => j.qrvId === qrv.id && jobAlive(j))) continue;
    const journal = journalOf(qrv, home);
    if (qrv.state === 'ready') {
      // An update killed after it committed, or before it recorded anything (the new ledger and
      // the journal are made first): nothing will use these files again.
      const left = staleFiles(qrv, home);
      if (left.length === 0) continue;
      found.push({
        qrv,
        finding: open(
          'stale-journal',
          qrv.id,
          `QRV ${qrv.id} is ready but files of an update that committed, or never began, are left (${left.join(', ')})`,
          'remove them',
        ),
      });
    } else if (existsSync(journal)) {
      found.push({
        qrv,
        finding: open(
          'interrupted-update',
          qrv.id,
          `an update of QRV ${qrv.id} (${qrv.destination}) was interrupted and cannot be resumed; its undo journal holds the blocks it overwrote`,
          `roll it back to its previous point in time (${qrv.snapshotId})`,
        ),
      });
    }
  }
  return found;
}

/**
 * Snapshots a `run` took and was killed before it copied and removed them, as its rules say
 * (unsnap after copy, copied now): nothing else would ever remove them. A copy due later is
 * cron's; an incremental QRV's base is kept.
 */
function leakFindings(data: CatalogData): CatalogFinding[] {
  const found: CatalogFinding[] = [];
  for (const snapshot of data.snapshots) {
    if (snapshot.state !== 'ready' || snapshot.pinned || snapshot.persistUntil !== null) continue;
    const job = data.jobs.find((j) => j.id === snapshot.jobId);
    if (!job || job.kind !== 'run' || !killedJob(job)) continue;
    const policy = data.policies.find((p) => p.name === snapshot.policy) ?? null;
    if (policy && policy.unsnap !== 'after-copy') continue;
    if (!job.destination && policy && (policy.dest === null || parseCopyTiming(policy.copy).mode !== 'now')) continue;
    if (
      snapshot.copiedTo &&
      policy?.incremental &&
      data.qrvs.some((q) => q.snapshotId === snapshot.id && q.state === 'ready')
    )
      continue;
    const dest = job.destination ?? policy?.dest ?? null;
    const action = snapshot.copiedTo || dest === null ? 'remove it' : `finish the copy to ${dest}, then remove it`;
    const what = `snapshot ${snapshot.id} of ${snapshot.volume} was left by run job ${job.id}, which was killed before it ${snapshot.copiedTo ? 'removed it' : 'copied and removed it'}; it has no expiry, so nothing would ever remove it`;
    found.push({ job, snapshot, dest, finding: open('leaked-snapshot', snapshot.id, what, action) });
  }
  return found;
}

/** Every finding the catalog alone shows, in the order --fix works on them. */
export function catalogFindings(data: CatalogData, home: string): CatalogFinding[] {
  const jobs = jobFindings(data, home);
  const resumed = new Set(jobs.filter((f) => f.finding.kind === 'resumable-copy').map((f) => f.qrv?.id as string));
  return [...jobs, ...journalFindings(data, home, resumed), ...leakFindings(data)];
}
