// Which snapshots `qrv prune` removes, decided from catalog data and a clock alone (so it is
// tested exactly): every ready snapshot whose persistence lapsed, and those beyond the newest
// N of their volume where a policy or --keep says N — never a pinned one, never one a copy is
// being made from, and never the base an incremental QRV still needs.
import type { CatalogData, Snapshot } from '../catalog/schema.ts';
import { compareText } from '../core/text.ts';

export interface PruneChoice {
  snapshot: Snapshot;
  reason: string;
}

export interface KeptChoice {
  snapshot: Snapshot;
  reason: string;
}

/**
 * Snapshots that incremental QRVs still need as their base: the snapshot a QRV with a block hash
 * ledger reflects, when that snapshot's policy updates its QRVs incrementally, is what the
 * provider compares the next snapshot with. (Without it the ledger still works, reading more.)
 */
export function incrementalBases(data: CatalogData): Set<string> {
  const incremental = new Set(data.policies.filter((p) => p.incremental).map((p) => p.name));
  const bases = new Set<string>();
  for (const qrv of data.qrvs) {
    if (qrv.state === 'removed' || qrv.state === 'promoted' || qrv.ledger === null) continue;
    const policy = data.snapshots.find((s) => s.id === qrv.snapshotId)?.policy;
    if (policy && incremental.has(policy)) bases.add(qrv.snapshotId);
  }
  return bases;
}

export function selectPrunable(
  data: CatalogData,
  now: Date,
  options: { keep?: number; keepOf?: (volume: string) => number | null; busy?: Set<string> } = {},
): { remove: PruneChoice[]; kept: KeptChoice[] } {
  const bases = incrementalBases(data);
  const remove: PruneChoice[] = [];
  const kept: KeptChoice[] = [];
  const ready = data.snapshots.filter((s) => s.state === 'ready');
  const byVolume = new Map<string, Snapshot[]>();
  for (const s of ready) {
    const rows = byVolume.get(s.volume);
    if (rows) rows.push(s);
    else byVolume.set(s.volume, [s]);
  }
  for (const [volume, snapshots] of byVolume) {
    const newestFirst = [...snapshots].sort((a, b) => compareText(b.createdAt, a.createdAt) || compareText(b.id, a.id));
    const keep = options.keep ?? options.keepOf?.(volume) ?? null;
    newestFirst.forEach((snapshot, index) => {
      const reasons: string[] = [];
      if (snapshot.persistUntil !== null && Date.parse(snapshot.persistUntil) <= now.getTime())
        reasons.push(`persistence lapsed at ${snapshot.persistUntil}`);
      if (keep !== null && index >= keep) reasons.push(`beyond the newest ${keep} of ${volume}`);
      if (reasons.length === 0) return;
      const reason = reasons.join('; ');
      if (snapshot.pinned) kept.push({ snapshot, reason: `pinned (${reason})` });
      else if (bases.has(snapshot.id)) kept.push({ snapshot, reason: `base of an incremental QRV (${reason})` });
      else if (options.busy?.has(snapshot.id)) kept.push({ snapshot, reason: `a running job uses it (${reason})` });
      else remove.push({ snapshot, reason });
    });
  }
  remove.sort((a, b) => compareText(a.snapshot.createdAt, b.snapshot.createdAt));
  return { remove, kept };
}
