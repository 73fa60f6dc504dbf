// `qrv doctor [--fix]` (F9): compares the catalog with what the providers really hold and with
// the processes behind "running" jobs, and says what it would do about each difference: resume a
// killed copy from its last checkpoint, mark a dead job and what it left half-done as failed,
// remove a snapshot whose row says removed or failed (one the catalog has no row for is another
// home's: only named), mark as removed a snapshot that is gone (./doctor-snapshots.ts), remove
// what a killed qrv left of a snapshot
// (./doctor-leftovers.ts). Without --fix nothing changes (exit 11 when something is to be done);
// with --fix it is done, one finding at a time, in the order listed.
import type { CatalogData, Qrv } from '../catalog/schema.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { catalogFindings, type Planned } from './doctor-findings.ts';
import { finishRun, markDead, removeStale, resumeArchive, resumeOrRollBack, rollBackUpdate } from './doctor-fixes.ts';
import { leftoverFindings, workDirFindings } from './doctor-leftovers.ts';
import { partialQrvFindings } from './doctor-partial-qrvs.ts';
import { hydrationFindings } from './doctor-hydration.ts';
import { snapshotFindings } from './doctor-snapshots.ts';
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
