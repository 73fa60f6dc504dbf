// `qrv doctor [--fix]` (F9): compares the catalog with what the providers really hold and with
// the processes behind "running" jobs, and says what it would do about each difference: resume a
// killed copy from its last checkpoint, mark a dead job and what it left half-done as failed,
// remove a snapshot qrv made but the catalog does not know, mark as removed a snapshot that is
// gone, remove what a killed qrv left of a snapshot (./doctor-leftovers.ts). Without --fix nothing
// changes (exit 11 when something is to be done); with --fix it is done, one finding at a time,
// in the order listed.
import { removeSteps, withJournal } from '../catalog/step-journal.ts';
import type { CatalogData, Job, Snapshot } from '../catalog/schema.ts';
import { isQrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive, processGone } from '../engine/job-recorder.ts';
import { volumeRef } from '../engine/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { getProvider } from '../providers/registry.ts';
import { resumeBlocker, resumeCopy } from './copy.ts';
import { leftoverFindings } from './doctor-leftovers.ts';
import { partialQrvFindings } from './doctor-partial-qrvs.ts';

export interface Finding {
  kind: 'resumable-copy' | 'dead-job' | 'orphan-snapshot' | 'missing-snapshot' | 'unfinished-snapshot' | 'invalid-snapshot' | 'leftover' | 'partial-qrv';
  /** the job, snapshot id or provider handle it is about */
  subject: string;
  what: string;
  /** what --fix does */
  action: string;
  fixed: boolean;
  /** why the fix failed, when it did */
  error: string | null;
}

export interface Planned {
  finding: Finding;
  fix: () => Promise<unknown>;
}

function percent(job: Job): string {
  const p = job.progress;
  if (!p) return '';
  const blocks = Math.ceil(p.sizeBytes / p.blockSize);
  return ` at ${blocks ? Math.floor((p.blocksDone / blocks) * 100) : 100}% (block ${p.blocksDone} of ${blocks})`;
}

/** The jobs whose process is gone but whose row says running, and failed copies that can go on. */
function jobFindings(ctx: Context, data: CatalogData): Planned[] {
  const planned: Planned[] = [];
  for (const job of data.jobs) {
    const dead = processGone(job);
    const resumable = resumeBlocker(data, job) === null;
    if (resumable) {
      planned.push({
        finding: { kind: 'resumable-copy', subject: job.id, what: `the copy of ${job.snapshotId} to QRV ${job.qrvId} by job ${job.id} stopped${percent(job)}${dead ? ` (process ${job.pid} is gone)` : ''}`, action: `resume it: qrv copy --resume ${job.id}`, fixed: false, error: null },
        fix: () => resumeCopy(ctx, { jobId: job.id, hooks: {} }), // with the killed copy's own hooks
      });
    } else if (dead) {
      planned.push({
        finding: { kind: 'dead-job', subject: job.id, what: `job ${job.id} (${job.kind} of ${job.volume}) is marked running but process ${job.pid} is gone`, action: 'mark it failed, and a QRV or snapshot it left half-made as failed', fixed: false, error: null },
        fix: async () => {
          // The steps it recorded after its row was last written are in its step journal.
          const journaled = await withJournal(ctx.catalog.home, job);
          await ctx.catalog.update((catalog) => {
            const row = catalog.jobs.find((j) => j.id === job.id);
            if (!row || row.state !== 'running') return;
            if (journaled.steps.length >= row.steps.length) row.steps = structuredClone(journaled.steps);
            row.state = 'failed';
            row.endedAt = ctx.now().toISOString();
            row.error = { code: 'abandoned', message: `process ${row.pid} on ${row.host} ended without finishing (found by qrv doctor)` };
            for (const step of row.steps) if (step.state === 'started') step.state = 'failed';
            for (const qrv of catalog.qrvs) if (qrv.id === row.qrvId && qrv.state === 'copying') qrv.state = 'failed';
          });
          await removeSteps(ctx.catalog.home, job.id);
        },
      });
    }
  }
  return planned;
}

/** Snapshots the provider holds that the catalog does not know, and catalog rows with nothing behind them. */
async function snapshotFindings(ctx: Context, data: CatalogData): Promise<Planned[]> {
  const planned: Planned[] = [];
  const markSnapshot = (id: string, state: Snapshot['state']) => () =>
    ctx.catalog.update((catalog) => {
      const row = catalog.snapshots.find((s) => s.id === id);
      if (!row) return;
      row.state = state;
      if (state === 'removed') row.removedAt = ctx.now().toISOString();
    });
  for (const volume of data.volumes) {
    // A volume with a live job is left alone: its snapshots may be between two steps.
    if (data.jobs.some((j) => j.volume === volume.name && jobAlive(j))) continue;
    const provider = getProvider(volume.provider);
    // A device the kernel forgot (dm after a reboot) holds no snapshot until `qrv volume activate`:
    // its snapshots are not missing.
    if (provider.activate && (await provider.inspect(volumeRef(volume)).then(() => false, (error: unknown) => isQrvError(error) && error.code === 'volume-inactive'))) continue;
    const held = await provider.listSnapshots(volumeRef(volume)).catch(() => null);
    if (!held) continue;
    const rows = data.snapshots.filter((s) => s.volume === volume.name);
    for (const h of held) {
      const row = rows.find((s) => (h.snapshotId !== undefined && s.id === h.snapshotId) || (s.handle !== '' && s.handle === h.handle));
      if (!row || row.state === 'removed' || row.state === 'failed') {
        planned.push({
          finding: { kind: 'orphan-snapshot', subject: h.handle, what: `the ${volume.provider} provider holds snapshot ${h.handle} of ${volume.name}${row ? `, which the catalog says is ${row.state}` : ', which the catalog does not know'}`, action: 'remove it', fixed: false, error: null },
          fix: () => provider.removeSnapshot(volumeRef(volume), h.handle),
        });
      } else if (row.state === 'creating' || row.state === 'removing') {
        const finished = row.state === 'creating' ? 'failed' : 'removed';
        planned.push({
          finding: { kind: 'unfinished-snapshot', subject: row.id, what: `snapshot ${row.id} of ${volume.name} was left ${row.state} by job ${row.jobId}`, action: `remove it and mark it ${finished}`, fixed: false, error: null },
          fix: async () => {
            await provider.removeSnapshot(volumeRef(volume), h.handle);
            await markSnapshot(row.id, finished)();
          },
        });
      } else if (row.state === 'ready' && provider.snapshotHealth) {
        // A classic snapshot whose COW store overflowed holds nothing of its point in time; the
        // kernel keeps the device (and its space) until it is removed.
        const health = await provider.snapshotHealth(volumeRef(volume), row).catch(() => null);
        if (health?.invalid) {
          planned.push({
            finding: { kind: 'invalid-snapshot', subject: row.id, what: `snapshot ${row.id} of ${volume.name} overflowed its copy-on-write store: it is invalid and can never be copied from`, action: 'remove it and mark it failed', fixed: false, error: null },
            fix: async () => {
              await provider.removeSnapshot(volumeRef(volume), h.handle);
              await markSnapshot(row.id, 'failed')();
            },
          });
        }
      }
    }
    for (const row of rows) {
      if (row.state === 'removed' || row.state === 'failed') continue;
      if (held.some((h) => (h.snapshotId !== undefined && h.snapshotId === row.id) || h.handle === row.handle)) continue;
      const state = row.state === 'creating' ? 'failed' : 'removed';
      planned.push({
        finding: { kind: 'missing-snapshot', subject: row.id, what: `snapshot ${row.id} of ${volume.name} is ${row.state} in the catalog but the ${volume.provider} provider does not hold it`, action: `mark it ${state}`, fixed: false, error: null },
        fix: markSnapshot(row.id, state),
      });
    }
  }
  return planned;
}

export async function doctor(ctx: Context, options: { fix: boolean }): Promise<Summary> {
  const data = await ctx.catalog.read();
  // Leftovers last: by then the snapshot findings removed the snapshot devices over them.
  const planned = [...jobFindings(ctx, data), ...(await snapshotFindings(ctx, data)), ...(await leftoverFindings(data)), ...(await partialQrvFindings(ctx, data))];
  if (options.fix) {
    for (const item of planned) {
      try {
        await item.fix();
        item.finding.fixed = true;
      } catch (error) {
        item.finding.error = error instanceof Error ? error.message : String(error);
        ctx.reporter.warn(`${item.finding.subject}: could not ${item.finding.action}: ${item.finding.error}`);
      }
    }
  }
  const findings = planned.map((p) => p.finding);
  const lines = findings.map((f) => `${f.what}: ${f.fixed ? `done (${f.action})` : f.error ? `FAILED to ${f.action}` : `would ${f.action}`}`);
  const open = findings.filter((f) => !f.fixed);
  lines.push(findings.length === 0 ? 'the catalog and the providers agree; no unfinished jobs' : open.length === 0 ? `fixed ${findings.length} finding${findings.length === 1 ? '' : 's'}` : options.fix ? `${open.length} finding${open.length === 1 ? '' : 's'} could not be fixed` : `${open.length} finding${open.length === 1 ? '' : 's'}; run \`qrv doctor --fix\` to do the above`);
  return { data: { findings }, lines, ...(open.length ? { exit: 'partial' as const } : {}) };
}
