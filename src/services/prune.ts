// `qrv prune [--dry-run] [--keep N] [--archive-keep GRID]`: removes every snapshot whose
// persistence lapsed and those beyond the newest N (F7), then the archive generations that fell
// out of their retention grid and what no generation uses (prune-archives.ts). Meant for cron: one snapshot that fails to go is reported and the
// rest still go; the exit status is then 11 (partly done).
import type { Context } from '../engine/context.ts';
import { endJob, forgetJob, jobAlive, startJob } from '../engine/job-recorder.ts';
import { findVolume } from '../catalog/lookup.ts';
import { type SnapshotRef, unsnapBatches } from '../engine/unsnap-phase.ts';
import type { Summary } from '../output/printer.ts';
import { policyFor } from '../policy/resolve.ts';
import { selectPrunable } from '../prune/select.ts';
import { applyRetention } from './history.ts';
import { pruneArchives } from './prune-archives.ts';

/** The prune's own line in the history store: what went, what stayed and why, which months were dropped. */
async function recordPrune(
  ctx: Context,
  result: { jobs: string[]; removed: { id: string }[]; failed: { id: string; error: string }[]; dropped: string[] },
): Promise<void> {
  const at = ctx.now().toISOString();
  await ctx.catalog.history.append([
    {
      id: `prune:${at}:${process.pid}`,
      at,
      kind: 'prune',
      volume: '',
      row: {
        at,
        jobs: result.jobs,
        removed: result.removed.length,
        failed: result.failed.length,
        removedIds: result.removed.map((r) => r.id),
        failures: result.failed,
        droppedMonths: result.dropped,
      },
    },
  ]);
}

export interface PruneRequest {
  dryRun: boolean;
  keep?: number;
  /** a retention grid for every volume's archive generations, instead of each policy's */
  archiveKeep?: string;
}

interface Plan {
  remove: (SnapshotRef & { reason: string })[];
  kept: { id: string; volume: string; reason: string }[];
}

/**
 * What goes and what stays, as small records: the catalog read to decide it is let go before the
 * removals start, so a prune of 10,000 snapshots does not hold their rows while each batch's
 * write makes new ones.
 */
async function plan(ctx: Context, request: PruneRequest): Promise<Plan> {
  const data = await ctx.catalog.read();
  const busy = new Set(data.jobs.filter((j) => jobAlive(j) && j.snapshotId).map((j) => j.snapshotId as string));
  const keepOf = (name: string) => {
    const volume = data.volumes.find((v) => v.name === name);
    return volume ? (policyFor(data, volume)?.keep ?? null) : null;
  };
  const { remove, kept } = selectPrunable(data, ctx.now(), {
    ...(request.keep !== undefined ? { keep: request.keep } : {}),
    keepOf,
    busy,
  });
  return {
    remove: remove.map(({ snapshot, reason }) => ({
      id: snapshot.id,
      volume: snapshot.volume,
      handle: snapshot.handle,
      reason,
    })),
    kept: kept.map(({ snapshot, reason }) => ({ id: snapshot.id, volume: snapshot.volume, reason })),
  };
}

export async function prune(ctx: Context, request: PruneRequest): Promise<Summary> {
  const planned = await plan(ctx, request);
  if (request.dryRun) return dryRun(ctx, request, planned);
  const removal = await removeSnapshots(ctx, planned.remove);
  return finish(ctx, request, planned, removal);
}

const keptLine = (k: Plan['kept'][number]) => `kept ${k.id} of ${k.volume}: ${k.reason}`;
const keptData = (plan: Plan) => plan.kept.map((k) => ({ id: k.id, reason: k.reason }));

/** --dry-run: what would go (snapshots, then archive generations) and what stays; nothing changes. */
async function dryRun(ctx: Context, request: PruneRequest, plan: Plan): Promise<Summary> {
  const { remove } = plan;
  const archives = await pruneArchives(ctx, request);
  const some = remove.length || archives.lines.length;
  return {
    data: {
      dryRun: true,
      wouldRemove: remove.map((r) => ({ id: r.id, volume: r.volume, reason: r.reason })),
      kept: keptData(plan),
    },
    lines: [
      ...remove.map((r) => `would remove ${r.id} of ${r.volume}: ${r.reason}`),
      ...archives.lines,
      ...plan.kept.map(keptLine),
      some
        ? `${remove.length} snapshot(s) and ${archives.lines.length} generation(s) would go (dry run: nothing changed)`
        : 'nothing to prune',
    ],
  };
}

/** What the removals did so far: the unsnap jobs, what went (and why) and what failed. */
interface Removal {
  /** why each snapshot to remove goes, by id */
  reasonOf: Map<string, string>;
  jobs: string[];
  removed: { id: string; volume: string; reason: string }[];
  failed: { id: string; volume: string; error: string }[];
}

/** Removes the snapshots: one job per volume, each in batches (a bounded number of catalog writes). */
async function removeSnapshots(ctx: Context, remove: Plan['remove']): Promise<Removal> {
  const removal: Removal = {
    reasonOf: new Map(remove.map((r) => [r.id, r.reason] as const)),
    jobs: [],
    removed: [],
    failed: [],
  };
  const byVolume = new Map<string, SnapshotRef[]>();
  for (const snapshot of remove) {
    const rows = byVolume.get(snapshot.volume);
    if (rows) rows.push(snapshot);
    else byVolume.set(snapshot.volume, [snapshot]);
  }
  for (const [name, snapshots] of byVolume) await removeOfVolume(ctx, removal, name, snapshots);
  return removal;
}

/**
 * One volume's snapshots, removed by one unsnap job. One that fails is warned about and the others
 * still go; when the job itself fails, every snapshot of it not yet accounted for failed with it.
 */
async function removeOfVolume(ctx: Context, removal: Removal, name: string, snapshots: SnapshotRef[]): Promise<void> {
  const { removed, failed } = removal;
  const warn = (snapshot: SnapshotRef, message: string) => {
    failed.push({ id: snapshot.id, volume: snapshot.volume, error: message });
    ctx.reporter.warn(`could not remove ${snapshot.id} of ${snapshot.volume}: ${message}`);
  };
  try {
    const volume = findVolume(await ctx.catalog.read(), name);
    const job = await startJob(ctx, 'unsnap', volume.name);
    removal.jobs.push(job.id);
    let outcome;
    try {
      outcome = await unsnapBatches(ctx, job, volume, snapshots, warn);
    } catch (error) {
      await endJob(job, error).catch(() => undefined);
      throw error;
    }
    forgetJob(job);
    for (const s of outcome.removed)
      removed.push({ id: s.id, volume: s.volume, reason: removal.reasonOf.get(s.id) ?? '' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reported = new Set(failed.map((f) => f.id));
    const done = new Set(removed.map((r) => r.id));
    for (const snapshot of snapshots) if (!reported.has(snapshot.id) && !done.has(snapshot.id)) warn(snapshot, message);
  }
}

/**
 * After the snapshots: the archive generations, the history's retention, the prune's own line in
 * the history (when something went), and the summary of it all.
 */
async function finish(ctx: Context, request: PruneRequest, plan: Plan, removal: Removal): Promise<Summary> {
  const { jobs, removed, failed } = removal;
  const keptLines = plan.kept.map(keptLine);
  const archives = await pruneArchives(ctx, request);
  removed.push(...archives.removed);
  failed.push(...archives.failed);
  keptLines.unshift(...archives.lines.filter((line) => !line.startsWith('removed ')));
  const { settings } = await ctx.catalog.read();
  const dropped = await applyRetention(ctx, settings.historyRetention);
  if (plan.remove.length || dropped.length) await recordPrune(ctx, { jobs, removed, failed, dropped });
  keptLines.push(
    ...dropped.map((name) => `history: dropped ${name} (older than the retention of ${settings.historyRetention})`),
  );
  return {
    data: { dryRun: false, removed, failed, kept: keptData(plan) },
    lines: [
      ...removed.map((r) => `removed ${r.id} of ${r.volume}${'store' in r ? ` from ${r.store}` : ''}: ${r.reason}`),
      ...keptLines,
      ...(removed.length || failed.length ? [`${removed.length} removed, ${failed.length} failed`] : []),
    ],
    ...(failed.length ? { exit: 'partial' as const } : {}),
  };
}
