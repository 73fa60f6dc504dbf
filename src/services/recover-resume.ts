// `qrv recover --resume JOB` (and `qrv doctor --fix`): finishes a recovery that was killed while
// it wrote a copy back over a volume (or an existing --to target), which then holds part of the
// copy and part of what it held before. It is the same recovery again, writing only what still
// differs where the copy's ledger says what that is (no new snapshot of the half-written volume
// is taken), every block otherwise. The killed job's row says it was resumed, and by which job.
import { findJob } from '../catalog/lookup.ts';
import type { Context } from '../engine/context.ts';
import { recoveryResumeBlocker } from '../engine/recovery-state.ts';
import type { Summary } from '../output/printer.ts';
import { recover } from './recover.ts';
import { cannotResume, markAbandoned } from './resumable.ts';

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
