// Removing generations from a store, and then what no generation uses any more: the caller holds
// the store's exclusive lock (store-lock.ts), so no send, restore or check is under way. First
// the manifests of the generations that go (a generation is gone once its manifest is), then
// every pack that no remaining manifest uses — unless a manifest could not be read (sealed with a
// key not given, or damaged): then no pack is removed, as one it uses could be among them. Packs
// of generations being sent (a send that may be resumed) are kept. A prune that is killed leaves
// packs no one uses, which the next one removes: nothing a generation needs is ever removed.
//
// Packs are removed whole; a pack that holds blobs some generation still uses stays whole too
// (no repacking): what it holds beyond them is reported as space kept.
import type { ArchiveStore } from '../stores/store.ts';
import type { ArchiveKey } from './key.ts';
import { manifestKey, PACKS } from './layout.ts';
import { packsUsed, storedManifests } from './manifest.ts';

export interface SweepPlan {
  /** the generations to remove */
  remove: { volume: string; id: string }[];
  /** the keys manifests may be sealed with */
  keys: (ArchiveKey | null)[];
  /** generations whose packs stay although no manifest uses them: sends that may be resumed */
  unfinished: Set<string>;
}

export interface SweepResult {
  removed: string[];
  packsRemoved: number;
  bytesFreed: number;
  packsKept: number;
  bytesKept: number;
  /** manifests that could not be read, and so kept every pack */
  unreadable: string[];
}

export async function sweepStore(store: ArchiveStore, plan: SweepPlan): Promise<SweepResult> {
  const result: SweepResult = {
    removed: [],
    packsRemoved: 0,
    bytesFreed: 0,
    packsKept: 0,
    bytesKept: 0,
    unreadable: [],
  };
  for (const { volume, id } of plan.remove) {
    await store.remove(manifestKey(volume, id));
    result.removed.push(id);
  }
  await store.flush();
  const { found, unreadable } = await storedManifests(store, plan.keys);
  result.unreadable = unreadable;
  const used = new Set<string>();
  for (const manifest of found) for (const pack of packsUsed(manifest)) used.add(pack);
  for (const pack of await store.list(PACKS)) {
    const generation = pack.key.split('/')[1] ?? '';
    if (unreadable.length || used.has(pack.key) || plan.unfinished.has(generation)) {
      result.packsKept++;
      result.bytesKept += pack.size;
      continue;
    }
    await store.remove(pack.key);
    result.packsRemoved++;
    result.bytesFreed += pack.size;
  }
  await store.flush();
  return result;
}
