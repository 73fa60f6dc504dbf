// What resuming a killed job (`qrv copy --resume`, `qrv recover --resume`) shares: the refusal
// when it cannot go on, and the killed job's row marked as ended without finishing.
import type { Job } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';

/** The error for a job that cannot be resumed (`blocker` says why); `again`: how to do the work anew. */
export function cannotResume(old: Job, blocker: string, again: string): QrvError {
  const busy = jobAlive(old);
  return new QrvError(
    busy ? 'busy' : 'refused',
    busy ? 'job-running' : 'resume-impossible',
    `cannot resume: ${blocker}`,
    busy ? 'wait for it, or stop it first' : again,
  );
}

/** The killed job's row says what became of it: failed, its process having ended without finishing. */
export async function markAbandoned(ctx: Context, jobId: string): Promise<void> {
  await ctx.catalog.update((catalog) => {
    const row = catalog.jobs.find((j) => j.id === jobId);
    if (row?.state !== 'running') return;
    row.state = 'failed';
    row.endedAt = ctx.now().toISOString();
    row.error = { code: 'abandoned', message: `process ${row.pid} on ${row.host} ended without finishing` };
  });
}
