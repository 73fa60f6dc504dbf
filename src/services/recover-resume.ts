// `qrv recover --resume JOB` (and `qrv doctor --fix`): finishes a recovery that was killed while
// it wrote a copy back over a volume (or an existing --to target), which then holds part of the
// copy and part of what it held before. It is the same recovery again, writing only what still
// differs where the copy's ledger says what that is (no new snapshot of the half-written volume
// is taken), every block otherwise. The killed job's row says it was resumed, and by which job.
import type { CatalogData, Job } from '../catalog/schema.ts';
import { findJob } from '../catalog/lookup.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import type { Summary } from '../output/printer.ts';
import { recover } from './recover.ts';
import { cannotResume, markAbandoned } from './resumable.ts';

/** Why a job's recovery cannot be resumed, or null when it can. */
export function recoveryResumeBlocker(data: CatalogData, job: Job): string | null {
  if (job.kind !== 'recover') return `job ${job.id} is a ${job.kind} job, not a recovery`;
  if (job.state === 'succeeded') return `job ${job.id} finished its recovery`;
  if (jobAlive(job)) return `job ${job.id} is still running (process ${job.pid})`;
  const from = job.qrvId ?? job.snapshotId;
  if (!from || !job.destination) return `job ${job.id} recovered from an archive generation: run it again`;
  // the row is written as the write-back step begins (write-back.ts)
  if (!job.steps.some((step) => step.name === 'write back')) return `job ${job.id} stopped before it wrote anything`;
  if (!data.volumes.some((v) => v.name === job.volume)) return `volume ${job.volume} is gone`;
  const later = data.jobs.find(
    (other) =>
      other.id !== job.id &&
      other.kind === 'recover' &&
      other.destination === job.destination &&
      other.startedAt >= job.startedAt,
  );
  if (later) return `job ${later.id} recovered onto ${job.destination} after it`;
  const source = job.qrvId
    ? data.qrvs.find((q) => q.id === job.qrvId)
    : data.snapshots.find((s) => s.id === job.snapshotId);
  if (!source || source.state !== 'ready') return `${from} is ${source ? source.state : 'gone'}`;
  return null;
}

export async function resumeRecovery(ctx: Context, jobId: string): Promise<Summary> {
  const data = await ctx.catalog.read();
  const old = findJob(data, jobId);
  const blocker = recoveryResumeBlocker(data, old);
  if (blocker) throw cannotResume(old, blocker, 'recover again with `qrv recover VOLUME --from ID --force`');
  await markAbandoned(ctx, old.id);
  const volume = data.volumes.find((v) => v.name === old.volume);
  const summary = await recover(ctx, {
    volume: old.volume,
    from: (old.qrvId ?? old.snapshotId) as string,
    ...(volume?.path === old.destination ? {} : { to: old.destination as string }),
    force: true,
    resumes: old.id,
  });
  return {
    data: { ...summary.data, resumed: old.id },
    lines: [`resumed the recovery of job ${old.id}`, ...summary.lines],
  };
}
