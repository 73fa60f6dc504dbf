// The archive half of `qrv prune` (issue 14): in each store, the generations of each volume that
// fell out of its retention grid (the policy's --archive-keep, or prune's own --archive-keep) go,
// then every pack no remaining generation uses (archive/sweep.ts), under the store's exclusive
// lock. A volume with no grid keeps every generation. A store that cannot be reached or locked
// is reported and the others still go (exit 11).
import { loadKey } from '../archive/key.ts';
import { sweepStore, type SweepResult } from '../archive/sweep.ts';
import type { ArchiveRow, CatalogData } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import type { Context } from '../engine/context.ts';
import { policyFor } from '../policy/resolve.ts';
import { parseGrid, selectByGrid } from '../prune/grid.ts';
import { dropCached } from './archive-cache.ts';
import { accessGeneration } from './stores.ts';

export interface ArchivePruneRequest {
  dryRun: boolean;
  /** a grid for every volume, instead of each policy's --archive-keep */
  archiveKeep?: string;
}

export interface ArchivePruneChoice {
  row: ArchiveRow;
  reason: string;
}

export interface ArchivePruneOutcome {
  lines: string[];
  removed: { id: string; volume: string; store: string; reason: string }[];
  failed: { id: string; volume: string; error: string }[];
}

/** The ready generations that fell out of their volume's grid, by store. */
export function archivesToPrune(data: CatalogData, now: Date, archiveKeep?: string): Map<string, ArchivePruneChoice[]> {
  const groups = new Map<string, ArchiveRow[]>();
  for (const row of data.archives.filter((a) => a.state === 'ready')) {
    const key = `${row.store}\0${row.volume}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const byStore = new Map<string, ArchivePruneChoice[]>();
  for (const rows of groups.values()) {
    const volume = data.volumes.find((v) => v.name === rows[0]!.volume);
    const text = archiveKeep ?? (volume ? policyFor(data, volume)?.archiveKeep : null) ?? null;
    if (!text) continue;
    for (const choice of selectByGrid(rows, parseGrid(text), now)) {
      if (choice.keep) continue;
      const store = choice.item.store;
      byStore.set(store, [...(byStore.get(store) ?? []), { row: choice.item, reason: choice.reason }]);
    }
  }
  return byStore;
}

/** Removes `choices` from `store` and sweeps it; marks the rows removed. */
async function pruneStore(ctx: Context, store: string, choices: ArchivePruneChoice[]): Promise<SweepResult> {
  const data = await ctx.catalog.read();
  const inStore = data.archives.filter((a) => a.store === store && a.state !== 'removed');
  const keyFiles = [...new Set(inStore.map((a) => a.keyFile).filter((f): f is string => f !== null))];
  const keys = [null, ...(await Promise.all(keyFiles.map((file) => loadKey(file))))];
  const unfinished = new Set(inStore.filter((a) => a.state === 'sending' || a.state === 'failed').map((a) => a.id));
  const access = await accessGeneration(ctx, store, null, { kind: 'exclusive', command: 'prune' });
  let result: SweepResult;
  try {
    const remove = choices.map(({ row }) => ({ volume: row.volume, id: row.id }));
    result = await sweepStore(access.store, { remove, keys, unfinished });
  } finally {
    await access.close();
  }
  const at = ctx.now().toISOString();
  const gone = new Set(result.removed);
  await ctx.catalog.update((catalog) => {
    for (const row of catalog.archives) if (gone.has(row.id)) Object.assign(row, { state: 'removed', removedAt: at });
  });
  await dropCached(ctx.catalog.home, result.removed);
  return result;
}

function sweptLine(store: string, result: SweepResult): string {
  const kept = `${result.packsKept} packs (${formatBytes(result.bytesKept)}) kept`;
  const why = result.unreadable.length
    ? `: ${result.unreadable.length} generation(s) could not be read, so no pack was removed (${result.unreadable[0]})`
    : '';
  return `${store}: ${result.packsRemoved} packs no generation uses removed (${formatBytes(result.bytesFreed)}), ${kept}${why}`;
}

export async function pruneArchives(ctx: Context, request: ArchivePruneRequest): Promise<ArchivePruneOutcome> {
  if (request.archiveKeep !== undefined) parseGrid(request.archiveKeep);
  const byStore = archivesToPrune(await ctx.catalog.read(), ctx.now(), request.archiveKeep);
  const outcome: ArchivePruneOutcome = { lines: [], removed: [], failed: [] };
  for (const [store, choices] of byStore) {
    if (request.dryRun) {
      for (const { row, reason } of choices)
        outcome.lines.push(`would remove ${row.id} of ${row.volume} from ${store}: ${reason}`);
      continue;
    }
    try {
      const result = await pruneStore(ctx, store, choices);
      for (const { row, reason } of choices)
        if (result.removed.includes(row.id)) {
          outcome.removed.push({ id: row.id, volume: row.volume, store, reason });
          outcome.lines.push(`removed ${row.id} of ${row.volume} from ${store}: ${reason}`);
        }
      outcome.lines.push(sweptLine(store, result));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const { row } of choices) outcome.failed.push({ id: row.id, volume: row.volume, error: message });
      ctx.reporter.warn(`could not prune ${store}: ${message}`);
    }
  }
  return outcome;
}
