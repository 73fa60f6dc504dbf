// `qrv prune [--dry-run] [--keep N]`: removes every snapshot whose persistence lapsed and those
// beyond the newest N (F7). Meant for cron: one snapshot that fails to go is reported and the
// rest still go; the exit status is then 11 (partly done).
import type { Context } from '../engine/context.ts';
import { jobAlive, withJob } from '../engine/job-recorder.ts';
import { findVolume } from '../engine/lookup.ts';
import { unsnapPhase } from '../engine/unsnap-phase.ts';
import type { Summary } from '../output/printer.ts';
import { policyFor } from '../policy/resolve.ts';
import { selectPrunable } from '../prune/select.ts';

export interface PruneRequest {
  dryRun: boolean;
  keep?: number;
}

export async function prune(ctx: Context, request: PruneRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const busy = new Set(data.jobs.filter((j) => jobAlive(j) && j.snapshotId).map((j) => j.snapshotId as string));
  const keepOf = (name: string) => {
    const volume = data.volumes.find((v) => v.name === name);
    return volume ? (policyFor(data, volume)?.keep ?? null) : null;
  };
  const { remove, kept } = selectPrunable(data, ctx.now(), { ...(request.keep !== undefined ? { keep: request.keep } : {}), keepOf, busy });
  const keptLines = kept.map((k) => `kept ${k.snapshot.id} of ${k.snapshot.volume}: ${k.reason}`);
  if (request.dryRun) {
    return {
      data: { dryRun: true, wouldRemove: remove.map((r) => ({ id: r.snapshot.id, volume: r.snapshot.volume, reason: r.reason })), kept: kept.map((k) => ({ id: k.snapshot.id, reason: k.reason })) },
      lines: [...remove.map((r) => `would remove ${r.snapshot.id} of ${r.snapshot.volume}: ${r.reason}`), ...keptLines, remove.length ? `${remove.length} snapshot(s) would go (dry run: nothing changed)` : 'nothing to prune'],
    };
  }
  const removed: { id: string; volume: string; reason: string }[] = [];
  const failed: { id: string; volume: string; error: string }[] = [];
  for (const { snapshot, reason } of remove) {
    try {
      const volume = findVolume(await ctx.catalog.read(), snapshot.volume);
      await withJob(ctx, 'unsnap', volume.name, (job) => unsnapPhase(ctx, job, volume, snapshot));
      removed.push({ id: snapshot.id, volume: snapshot.volume, reason });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push({ id: snapshot.id, volume: snapshot.volume, error: message });
      ctx.reporter.warn(`could not remove ${snapshot.id} of ${snapshot.volume}: ${message}`);
    }
  }
  return {
    data: { dryRun: false, removed, failed, kept: kept.map((k) => ({ id: k.snapshot.id, reason: k.reason })) },
    lines: [...removed.map((r) => `removed ${r.id} of ${r.volume}: ${r.reason}`), ...keptLines, ...(removed.length || failed.length ? [`${removed.length} removed, ${failed.length} failed`] : [])],
    ...(failed.length ? { exit: 'partial' as const } : {}),
  };
}
