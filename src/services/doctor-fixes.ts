// What `qrv doctor --fix` does about the catalog's findings (./doctor-findings.ts). Each fix
// leaves nothing for the next doctor to find: a copy is resumed, or else the QRV is rolled back
// to its previous point in time (undo journal) or given up; a leaked snapshot is copied as its
// run meant to and removed. Each returns a line saying what it did.
import { plainCopy } from '../catalog/tracked.ts';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { ioCall } from '../core/io-error.ts';
import type { Qrv } from '../catalog/schema.ts';
import { archive } from './archive.ts';
import { removeSteps, withJournal } from '../catalog/step-journal.ts';
import { UndoJournal, rollBack } from '../copy/undo-journal.ts';
import type { Context } from '../engine/context.ts';
import { withJob } from '../engine/job-recorder.ts';
import { findVolume } from '../catalog/lookup.ts';
import { unsnapPhase } from '../engine/unsnap-phase.ts';
import { rulesFor } from '../policy/rules.ts';
import { resumeCopy } from './copy.ts';
import { journalOf, staleFiles, type CatalogFinding } from './doctor-findings.ts';
import { copyAndUnsnap } from './group.ts';

/** Puts a QRV back at the point in time of before its interrupted update, bytes, ledger and row. */
export async function rollBackUpdate(ctx: Context, qrvId: string): Promise<string> {
  const data = await ctx.catalog.read();
  const qrv = data.qrvs.find((q) => q.id === qrvId);
  if (!qrv) throw new Error(`QRV ${qrvId} is gone from the catalog`);
  const journal = journalOf(qrv, ctx.catalog.home);
  const header = await rollBack(journal, { qrvId, destination: qrv.destination });
  const row = header.row as unknown as Qrv;
  await ctx.catalog.update((catalog) => {
    const at = catalog.qrvs.findIndex((q) => q.id === qrvId);
    if (at >= 0) catalog.qrvs[at] = plainCopy(row);
    for (const job of catalog.jobs) {
      if (job.qrvId !== qrvId || job.state === 'running' || !job.progress) continue;
      job.progress = null;
      job.warnings.push(`its copy was rolled back by qrv doctor: QRV ${qrvId} reflects ${row.snapshotId} again`);
    }
  });
  await UndoJournal.discard(journal);
  return `rolled QRV ${qrvId} back to ${row.snapshotId}`;
}

/** Removes what an update left beside a ready QRV: its undo journal, its partial ledger. */
export async function removeStale(ctx: Context, qrv: Qrv): Promise<void> {
  for (const file of staleFiles(qrv, ctx.catalog.home)) {
    if (file.endsWith('.partial')) await ioCall('write', file, () => rm(file, { force: true }));
    else await UndoJournal.discard(file);
  }
}

/** A copy that cannot go on and has nothing to roll back to: the QRV stays failed, no job offers a resume. */
async function giveUp(ctx: Context, qrvId: string, why: string): Promise<string> {
  await ctx.catalog.update((catalog) => {
    for (const qrv of catalog.qrvs) if (qrv.id === qrvId && qrv.state === 'copying') qrv.state = 'failed';
    for (const job of catalog.jobs) {
      if (job.qrvId !== qrvId || job.state === 'running' || !job.progress) continue;
      job.progress = null;
      job.warnings.push(`its copy cannot be resumed (${why}); given up by qrv doctor`);
    }
  });
  return `could not resume it (${why}); QRV ${qrvId} stays failed: copy to it again`;
}

/** Resumes a killed copy; if that fails, rolls its QRV back (or gives it up), so doctor converges. */
export async function resumeOrRollBack(ctx: Context, item: CatalogFinding): Promise<string> {
  const { job, qrv } = item as Required<CatalogFinding>;
  try {
    await resumeCopy(ctx, { jobId: job.id, hooks: {} }); // with the killed copy's own hooks
    return `resumed job ${job.id}`;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    ctx.reporter.warn(`the copy of job ${job.id} could not be resumed: ${why}`);
    if (existsSync(journalOf(qrv, ctx.catalog.home))) return rollBackUpdate(ctx, qrv.id);
    return giveUp(ctx, qrv.id, why);
  }
}

/** Finishes a killed archive generation (`qrv archive --resume`); one that cannot go on is left failed. */
export async function resumeArchive(ctx: Context, jobId: string): Promise<string> {
  await markDead(ctx, jobId);
  await archive(ctx, { resume: jobId });
  return `resumed archive job ${jobId}`;
}

/** Marks a job whose process is gone failed, with what it left half-made. */
export async function markDead(ctx: Context, jobId: string): Promise<void> {
  // The steps it recorded after its row was last written are in its step journal.
  const job = (await ctx.catalog.read()).jobs.find((j) => j.id === jobId);
  if (!job) return;
  const journaled = await withJournal(ctx.catalog.home, job);
  await ctx.catalog.update((catalog) => {
    const row = catalog.jobs.find((j) => j.id === jobId);
    if (!row || row.state !== 'running') return;
    if (journaled.steps.length >= row.steps.length) row.steps = plainCopy(journaled.steps);
    row.state = 'failed';
    row.endedAt = ctx.now().toISOString();
    row.error = {
      code: 'abandoned',
      message: `process ${row.pid} on ${row.host} ended without finishing (found by qrv doctor)`,
    };
    for (const step of row.steps) if (step.state === 'started') step.state = 'failed';
    for (const qrv of catalog.qrvs) if (qrv.id === row.qrvId && qrv.state === 'copying') qrv.state = 'failed';
    for (const generation of catalog.archives)
      if (generation.jobId === row.id && generation.state === 'sending') generation.state = 'failed';
  });
  await removeSteps(ctx.catalog.home, jobId);
}

/**
 * Does what the killed run meant to do with its snapshot: copy it to its destination (unless a
 * resume did meanwhile) and remove it as its rules say; with no destination known, remove it.
 */
export async function finishRun(ctx: Context, item: CatalogFinding): Promise<string> {
  const data = await ctx.catalog.read();
  const snapshot = data.snapshots.find((s) => s.id === item.snapshot?.id);
  if (!snapshot || snapshot.state !== 'ready') return 'nothing left to do';
  const volume = findVolume(data, snapshot.volume);
  const policy = data.policies.find((p) => p.name === snapshot.policy) ?? null;
  if (snapshot.copiedTo || !item.dest) {
    if (
      snapshot.copiedTo &&
      policy?.incremental &&
      data.qrvs.some((q) => q.snapshotId === snapshot.id && q.state === 'ready')
    )
      return `kept ${snapshot.id}: it is the base of QRV ${snapshot.copiedTo}`;
    await withJob(ctx, 'unsnap', volume.name, (job) => unsnapPhase(ctx, job, volume, snapshot));
    return `removed ${snapshot.id}`;
  }
  const rules = rulesFor(policy, { to: item.dest });
  // The rest of the killed run, as a run job that says which one it finishes.
  const { result } = await withJob(ctx, 'run', volume.name, (job) => {
    job.set({ resumes: item.job?.id ?? null });
    return copyAndUnsnap(ctx, job, { volume, rules }, snapshot, { force: false, rollback: false });
  });
  return `copied ${snapshot.id} to QRV ${result.qrv.id}${result.snapshot.state === 'removed' ? ' and removed it' : ''}`;
}
