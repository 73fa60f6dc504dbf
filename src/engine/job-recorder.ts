// Records a job's steps before and after each one, so that a job killed at any moment can be
// understood later (qrv doctor): in its step journal (a small fsynced append, no catalog
// rewrite), and in its catalog row with every state change and when the job ends, so that a
// job costs a bounded number of catalog writes however many steps it has. The row is first written when the job is
// about to change something: a job that fails before that (a bad option, a failed pre-snapshot
// hook) leaves the catalog byte for byte as it was, and reports only through its exit status.
import os from 'node:os';
import type { CatalogData, Job, Step } from '../catalog/schema.ts';
import { appendSteps, removeSteps } from '../catalog/step-journal.ts';
import { isQrvError } from '../core/errors.ts';
import type { Phase } from '../core/events.ts';
import { newId } from '../core/ids.ts';
import type { Context } from './context.ts';

/** Jobs this process is running now, so that a signal can mark them before qrv exits. */
const active = new Set<JobRecorder>();

export function activeJobs(): JobRecorder[] {
  return [...active];
}

/** Whether a job row says running although its process is gone (killed, or the machine went down). */
export function processGone(job: Job): boolean {
  return job.state === 'running' && !jobAlive(job);
}

/** Whether a job row marked running still has a live process behind it (on this host). */
export function jobAlive(job: Job): boolean {
  if (job.state !== 'running') return false;
  if (job.host !== os.hostname()) return true; // cannot tell; assume the other host knows
  try {
    process.kill(job.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class JobRecorder {
  readonly id: string;
  private readonly row: Job;
  private written = false;
  /** while held, steps are recorded in memory only (no catalog write inside a freeze window) */
  private held = false;

  constructor(
    private readonly ctx: Context,
    kind: Job['kind'],
    volume: string,
    taken: (id: string) => boolean = () => false,
  ) {
    this.id = newId('j', taken);
    this.row = {
      id: this.id,
      kind,
      volume,
      state: 'running',
      pid: process.pid,
      host: os.hostname(),
      startedAt: ctx.now().toISOString(),
      endedAt: null,
      snapshotId: null,
      qrvId: null,
      destination: null,
      steps: [],
      warnings: [],
      error: null,
      progress: null,
      resumes: null,
    };
  }

  get job(): Job {
    return structuredClone(this.row);
  }

  get isWritten(): boolean {
    return this.written;
  }

  /**
   * Keeps step records in memory until release(): the time between a freeze and its thaw must
   * not wait for catalog writes (each one is fsync'ed), and the catalog may even sit on a disk
   * whose writes are slow while a filesystem is frozen.
   */
  hold(): void {
    this.held = true;
  }

  /** Ends hold() and writes what was held (together with `change`, in one transaction). */
  async release(change?: (data: CatalogData) => void): Promise<void> {
    if (!this.held) return;
    this.held = false;
    if (change) await this.commit(change);
    else await this.journal();
  }

  /** Records the steps so far in the job's step journal (not the catalog), once the job is written. */
  private async journal(): Promise<void> {
    if (this.written) await appendSteps(this.ctx.catalog.home, this.id, this.row.steps);
  }

  /** Ends hold() without writing: the caller's next commit or finish writes what was held. */
  unhold(): void {
    this.held = false;
  }

  /** Writes the row (with the steps so far) together with `change`, in one catalog transaction. */
  async begin(change?: (data: CatalogData) => void): Promise<void> {
    await this.commit(change, true);
  }

  /** One catalog transaction that also rewrites this job's row, once the job is written. */
  async commit(change?: (data: CatalogData) => void, start = false): Promise<void> {
    if (!this.written && !start) {
      if (change) await this.ctx.catalog.update(change);
      return;
    }
    await this.ctx.catalog.update((data) => {
      change?.(data);
      const at = data.jobs.findIndex((job) => job.id === this.id);
      if (at >= 0) data.jobs[at] = structuredClone(this.row);
      else data.jobs.push(structuredClone(this.row));
    });
    const hadJournal = this.written;
    this.written = true;
    // The row holds every step now: an ended job's journal is no longer needed.
    if (hadJournal && this.row.state !== 'running')
      await removeSteps(this.ctx.catalog.home, this.id).catch(() => undefined);
  }

  set(fields: Partial<Pick<Job, 'snapshotId' | 'qrvId' | 'destination' | 'resumes'>>): void {
    Object.assign(this.row, fields);
  }

  /** Records how far a copy got (the destination and ledger are flushed up to there). */
  async saveProgress(progress: Job['progress']): Promise<void> {
    this.row.progress = structuredClone(progress);
    await this.commit();
  }

  /** Forgets a copy's progress in the next commit (the copy is done). */
  clearProgress(): void {
    this.row.progress = null;
  }

  async warn(message: string): Promise<void> {
    this.row.warnings.push(message);
    this.ctx.reporter.warn(message);
  }

  /**
   * Runs one step: emits started/done/failed events and, once the job is written, records the
   * step in the catalog before and after. `detail` turns the result into the line shown for it.
   */
  async step<T>(
    phase: Phase,
    name: string,
    work: () => Promise<T>,
    detail?: (result: T) => string | undefined,
  ): Promise<T> {
    const step: Step = { name, state: 'started', startedAt: this.ctx.now().toISOString(), endedAt: null, detail: null };
    this.row.steps.push(step);
    this.ctx.reporter.emit({ type: 'step', phase, step: name, state: 'started' });
    if (!this.held) await this.journal();
    const started = process.hrtime.bigint();
    try {
      const result = await work();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      step.state = 'done';
      step.detail = detail?.(result) ?? null;
      step.endedAt = this.ctx.now().toISOString();
      this.ctx.reporter.emit({
        type: 'step',
        phase,
        step: name,
        state: 'done',
        ms,
        ...(step.detail ? { detail: step.detail } : {}),
      });
      if (!this.held) await this.journal();
      return result;
    } catch (error) {
      step.state = 'failed';
      step.detail = error instanceof Error ? error.message : String(error);
      step.endedAt = this.ctx.now().toISOString();
      this.ctx.reporter.emit({ type: 'step', phase, step: name, state: 'failed', detail: step.detail });
      throw error;
    }
  }

  /** A step that did not run, and why. */
  skip(phase: Phase, name: string, why: string): void {
    const at = this.ctx.now().toISOString();
    this.row.steps.push({ name, state: 'skipped', startedAt: at, endedAt: at, detail: why });
    this.ctx.reporter.emit({ type: 'step', phase, step: name, state: 'skipped', detail: why });
  }

  /**
   * qrv was interrupted: the job is marked failed, a QRV it was copying is marked failed and a
   * snapshot it was making is marked failed, so nothing is left looking busy or ready.
   */
  async interrupt(signal: string): Promise<void> {
    this.row.state = 'failed';
    this.row.endedAt = this.ctx.now().toISOString();
    this.row.error = { code: 'interrupted', message: `interrupted by ${signal}` };
    for (const step of this.row.steps) if (step.state === 'started') step.state = 'failed';
    if (!this.written) return;
    await this.commit((data) => {
      for (const qrv of data.qrvs) if (qrv.id === this.row.qrvId && qrv.state === 'copying') qrv.state = 'failed';
      for (const snapshot of data.snapshots)
        if (snapshot.id === this.row.snapshotId && snapshot.state === 'creating') snapshot.state = 'failed';
      for (const generation of data.archives)
        if (generation.jobId === this.id && generation.state === 'sending') generation.state = 'failed';
    });
  }

  /** Ends the job: succeeded, or failed with the error, together with `change` in one transaction. */
  async finish(error?: unknown, change?: (data: CatalogData) => void): Promise<void> {
    this.row.endedAt = this.ctx.now().toISOString();
    this.row.state = error ? 'failed' : 'succeeded';
    if (error) {
      this.row.error = isQrvError(error)
        ? { code: error.code, message: error.message }
        : { code: 'bug', message: error instanceof Error ? error.message : String(error) };
    }
    if (this.written || change) await this.commit(change);
  }
}

/** Starts a job that the caller ends with endJob (for work that spans several phases of a group). */
export async function startJob(ctx: Context, kind: Job['kind'], volume: string): Promise<JobRecorder> {
  const data = await ctx.catalog.read();
  const job = new JobRecorder(ctx, kind, volume, (id) => data.jobs.some((row) => row.id === id));
  active.add(job);
  return job;
}

/** Takes a job that ended itself (finish) off the list of running ones. */
export function forgetJob(job: JobRecorder): void {
  active.delete(job);
}

/** Ends a job started with startJob: succeeded, or failed with `error`. */
export async function endJob(job: JobRecorder, error?: unknown): Promise<Job> {
  try {
    await job.finish(error);
  } finally {
    active.delete(job);
  }
  return job.job;
}

/** Runs `work` as one job: finishes the row as succeeded or failed (with the error) either way. */
export async function withJob<T>(
  ctx: Context,
  kind: Job['kind'],
  volume: string,
  work: (job: JobRecorder) => Promise<T>,
): Promise<{ result: T; job: Job }> {
  const job = await startJob(ctx, kind, volume);
  let result: T;
  try {
    result = await work(job);
  } catch (error) {
    await endJob(job, error);
    throw error;
  }
  return { result, job: await endJob(job) };
}
