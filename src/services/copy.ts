// `qrv copy SNAPSHOT --to DEST`: the copy phase alone, from a snapshot that exists. A QRV already
// kept at DEST is updated with the changed blocks (--full rewrites it). `qrv copy --resume JOB`
// picks up a copy that was killed or failed where its last checkpoint left it (F9).
import { existsSync } from 'node:fs';
import type { CatalogData, Job } from '../catalog/schema.ts';
import type { Context } from '../engine/context.ts';
import { copyPhase, type ResumePoint } from '../engine/copy-phase.ts';
import { jobAlive, withJob } from '../engine/job-recorder.ts';
import { findJob, findVolume, readableSnapshot } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { copyLines } from '../output/rows.ts';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../policy/hooks.ts';
import type { HookOptions } from './job-options.ts';
import { cannotResume, markAbandoned } from './resumable.ts';

export interface CopyRequest extends HookOptions {
  snapshotId: string;
  to: string;
  force: boolean;
  /** rewrite an existing QRV in full instead of updating its changed blocks */
  full?: boolean;
  /** --throttle: bytes a second the copy and its read-back may read at most */
  throttle?: number;
}

export async function copy(ctx: Context, request: CopyRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const snapshot = readableSnapshot(data, request.snapshotId);
  const volume = findVolume(data, snapshot.volume);
  const { result, job } = await withJob(ctx, 'copy', volume.name, (job) =>
    copyPhase(ctx, job, volume, snapshot, { ...request, incremental: !request.full }),
  );
  return { data: { qrv: result.qrv, copy: result.copy, job }, lines: copyLines(result.qrv, result.copy) };
}

/** Why a job's copy cannot be resumed, or null when it can. */
export function resumeBlocker(data: CatalogData, job: Job): string | null {
  if (job.kind !== 'copy' && job.kind !== 'run') return `job ${job.id} is a ${job.kind} job, not a copy`;
  if (job.state === 'succeeded') return `job ${job.id} finished its copy`;
  if (jobAlive(job)) return `job ${job.id} is still running (process ${job.pid})`;
  if (!job.progress || !job.qrvId || !job.snapshotId) return `job ${job.id} saved no copy progress`;
  const qrv = data.qrvs.find((q) => q.id === job.qrvId);
  if (!qrv || (qrv.state !== 'copying' && qrv.state !== 'failed'))
    return `QRV ${job.qrvId} is ${qrv ? qrv.state : 'gone'}`;
  // Only the last copy to a QRV can go on: a later one (finished, failed or killed) wrote over
  // what this one did, and its partial ledger is the later one's.
  const later = data.jobs.find(
    (other) => other.id !== job.id && other.qrvId === qrv.id && other.startedAt >= job.startedAt,
  );
  if (later) return `job ${later.id} copied to QRV ${qrv.id} after it`;
  const snapshot = data.snapshots.find((s) => s.id === job.snapshotId);
  if (!snapshot || snapshot.state !== 'ready')
    return `snapshot ${job.snapshotId} is ${snapshot ? snapshot.state : 'gone'}`;
  // What it had done is in the partial ledger (or, killed while verifying, in the finished one).
  if (!existsSync(`${job.progress.ledger}.partial`) && !existsSync(job.progress.ledger))
    return `its ledger ${job.progress.ledger}.partial is gone`;
  return null;
}

export interface ResumeRequest {
  jobId: string;
  /** hooks given to the resume; each replaces the killed copy's hook of its phase */
  hooks: HookOptions['hooks'];
  /** given to the resume: replaces the killed copy's hook timeout */
  hookTimeoutMs?: number;
  /** given to the resume: replaces the killed copy's --throttle */
  throttle?: number;
}

export async function resumeCopy(ctx: Context, request: ResumeRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const old = findJob(data, request.jobId);
  const blocker = resumeBlocker(data, old);
  if (blocker)
    throw cannotResume(
      old,
      blocker,
      'run the copy again with `qrv copy SNAPSHOT --to DEST`; `qrv doctor` lists what can be resumed',
    );
  const progress = old.progress as NonNullable<Job['progress']>;
  const snapshot = readableSnapshot(data, old.snapshotId as string);
  const volume = findVolume(data, snapshot.volume);
  const qrv = data.qrvs.find((q) => q.id === old.qrvId) as ResumePoint['qrv'];
  await markAbandoned(ctx, old.id);
  const { result, job } = await withJob(ctx, 'copy', volume.name, async (job) => {
    job.set({ resumes: old.id });
    // Said now, while the killed job's row is still live: once the copy commits, that row is
    // finished and moves to the history store, which is never rewritten.
    await ctx.catalog.update((catalog) => {
      const row = catalog.jobs.find((j) => j.id === old.id);
      if (row) row.warnings.push(`resumed by job ${job.id} (qrv show ${job.id} says how it ended)`);
    });
    const hooks = { ...progress.hooks, ...request.hooks };
    const hookTimeoutMs = request.hookTimeoutMs ?? progress.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    return copyPhase(ctx, job, volume, snapshot, {
      to: qrv.destination,
      force: false,
      hooks,
      hookTimeoutMs,
      incremental: true,
      throttle: request.throttle ?? progress.throttle ?? null,
      resume: { jobId: old.id, progress, qrv },
    });
  });
  return {
    data: { qrv: result.qrv, copy: result.copy, job, resumed: old.id },
    lines: [
      `resumed the copy of job ${old.id} at block ${progress.blocksDone} of ${Math.ceil(progress.sizeBytes / progress.blockSize)}`,
      ...copyLines(result.qrv, result.copy),
    ],
  };
}
