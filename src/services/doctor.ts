// `qrv doctor [--fix]` (F9): compares the catalog with what the providers really hold and with
// the processes behind "running" jobs, and says what it would do about each difference: resume a
// killed copy from its last checkpoint, mark a dead job and what it left half-done as failed,
// remove a snapshot qrv made but the catalog does not know, mark as removed a snapshot that is
// gone, remove what a killed qrv left of a snapshot (./doctor-leftovers.ts). Without --fix nothing
// changes (exit 11 when something is to be done); with --fix it is done, one finding at a time,
// in the order listed.
import type { CatalogData, Qrv, Snapshot } from '../catalog/schema.ts';
import { isQrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { volumeRef } from '../providers/provider.ts';
import type { Summary } from '../output/printer.ts';
import { getProvider } from '../providers/registry.ts';
import { catalogFindings, type Planned } from './doctor-findings.ts';
import { finishRun, markDead, removeStale, resumeArchive, resumeOrRollBack, rollBackUpdate } from './doctor-fixes.ts';
import { leftoverFindings, workDirFindings } from './doctor-leftovers.ts';
import { partialQrvFindings } from './doctor-partial-qrvs.ts';
import { hydrationFindings } from './doctor-hydration.ts';
import { resumeRecovery } from './recover-resume.ts';

export type { Finding } from './doctor-findings.ts';

/** The catalog's findings (shared with `qrv check`) with what --fix does about each. */
function catalogPlan(ctx: Context, data: CatalogData): Planned[] {
  return catalogFindings(data, ctx.catalog.home).map((item) => {
    const { finding } = item;
    const fix = {
      'resumable-copy': () => resumeOrRollBack(ctx, item),
      'resumable-archive': () => resumeArchive(ctx, finding.subject),
      'resumable-recovery': async () => {
        await resumeRecovery(ctx, finding.subject);
        return `resumed recovery job ${finding.subject}`;
      },
      'dead-job': () => markDead(ctx, finding.subject),
      'interrupted-update': () => rollBackUpdate(ctx, finding.subject),
      'stale-journal': () => removeStale(ctx, item.qrv as Qrv),
      'leaked-snapshot': () => finishRun(ctx, item),
    } as Record<string, () => Promise<unknown>>;
    return { finding, fix: fix[finding.kind] as () => Promise<unknown> };
  });
}

/** Snapshots the provider holds that the catalog does not know, and catalog rows with nothing behind them. */
// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
async function snapshotFindings(ctx: Context, data: CatalogData, foreign: string[]): Promise<Planned[]> {
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
    if (
      provider.activate &&
      (await provider.inspect(volumeRef(volume)).then(
        () => false,
        (error: unknown) => isQrvError(error) && error.code === 'volume-inactive',
      ))
    )
      continue;
    const held = await provider.listSnapshots(volumeRef(volume)).catch(() => null);
    if (!held) continue;
    const rows = data.snapshots.filter((s) => s.volume === volume.name);
    for (const h of held) {
      const row = rows.find(
        (s) => (h.snapshotId !== undefined && s.id === h.snapshotId) || (s.handle !== '' && s.handle === h.handle),
      );
      // Only what this home made is ours to remove: a snapshot this catalog has no row for was
      // made by another qrv home protecting the same volume (or by someone else). Every snapshot
      // this home makes has its row before it exists (the job's begin records it as creating).
      if (!row) {
        foreign.push(`${h.handle} of ${volume.name}`);
        continue;
      }
      if (row.state === 'removed' || row.state === 'failed') {
        planned.push({
          finding: {
            kind: 'orphan-snapshot',
            subject: h.handle,
            what: `the ${volume.provider} provider holds snapshot ${h.handle} of ${volume.name}, which the catalog says is ${row.state}`,
            action: 'remove it',
            fixed: false,
            error: null,
          },
          fix: () => provider.removeSnapshot(volumeRef(volume), h.handle),
        });
      } else if (row.state === 'creating' || row.state === 'removing') {
        const finished = row.state === 'creating' ? 'failed' : 'removed';
        planned.push({
          finding: {
            kind: 'unfinished-snapshot',
            subject: row.id,
            what: `snapshot ${row.id} of ${volume.name} was left ${row.state} by job ${row.jobId}`,
            action: `remove it and mark it ${finished}`,
            fixed: false,
            error: null,
          },
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
            finding: {
              kind: 'invalid-snapshot',
              subject: row.id,
              what: `snapshot ${row.id} of ${volume.name} overflowed its copy-on-write store: it is invalid and can never be copied from`,
              action: 'remove it and mark it failed',
              fixed: false,
              error: null,
            },
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
      if (held.some((h) => (h.snapshotId !== undefined && h.snapshotId === row.id) || h.handle === row.handle))
        continue;
      const state = row.state === 'creating' ? 'failed' : 'removed';
      planned.push({
        finding: {
          kind: 'missing-snapshot',
          subject: row.id,
          what: `snapshot ${row.id} of ${volume.name} is ${row.state} in the catalog but the ${volume.provider} provider does not hold it`,
          action: `mark it ${state}`,
          fixed: false,
          error: null,
        },
        fix: markSnapshot(row.id, state),
      });
    }
  }
  return planned;
}

export async function doctor(ctx: Context, options: { fix: boolean }): Promise<Summary> {
  const data = await ctx.catalog.read();
  // Leftovers last: by then the snapshot findings removed the snapshot devices over them.
  const foreign: string[] = [];
  const notes: string[] = [];
  const planned = [
    ...(await hydrationFindings(ctx, data, notes)),
    ...catalogPlan(ctx, data),
    ...(await snapshotFindings(ctx, data, foreign)),
    ...(await leftoverFindings(data)),
    ...(await workDirFindings()),
    ...(await partialQrvFindings(ctx, data)),
  ];
  if (options.fix) {
    for (const item of planned) {
      try {
        const done = await item.fix();
        item.finding.fixed = true;
        if (typeof done === 'string') item.finding.action = done;
      } catch (error) {
        item.finding.error = error instanceof Error ? error.message : String(error);
        ctx.reporter.warn(`${item.finding.subject}: could not ${item.finding.action}: ${item.finding.error}`);
      }
    }
  }
  const findings = planned.map((p) => p.finding);
  const lines = findings.map(
    (f) => `${f.what}: ${f.fixed ? `done (${f.action})` : f.error ? `FAILED to ${f.action}` : `would ${f.action}`}`,
  );
  lines.push(...notes);
  for (const name of foreign)
    lines.push(
      `left alone: snapshot ${name} is not in this home's catalog (another qrv home's, or not qrv's); only its maker removes it`,
    );
  const open = findings.filter((f) => !f.fixed);
  lines.push(
    findings.length === 0
      ? 'the catalog and the providers agree; no unfinished jobs'
      : open.length === 0
        ? `fixed ${findings.length} finding${findings.length === 1 ? '' : 's'}`
        : options.fix
          ? `${open.length} finding${open.length === 1 ? '' : 's'} could not be fixed`
          : `${open.length} finding${open.length === 1 ? '' : 's'}; run \`qrv doctor --fix\` to do the above`,
  );
  return { data: { findings, foreign, notes }, lines, ...(open.length ? { exit: 'partial' as const } : {}) };
}
