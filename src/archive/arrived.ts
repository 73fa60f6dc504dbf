// What a killed send left in the store: its own packs (packs/<a-id>/…), whole, each with its
// index. A resume reuses every segment whose blob arrived and whose chunks' packs arrived too,
// and the chunks of its last packs one by one: a segment's chunks are added to packs before its
// blob, and at most a few packs are in flight, so chunks whose segment blob did not arrive are in
// the last few packs. Memory stays bounded by the segments (one per 4 MiB), not the chunks.
import type { ArchiveStore } from '../stores/store.ts';
import type { ArchiveKey } from './key.ts';
import { PACKS } from './layout.ts';
import { isDataLoss, isPackKey, packSequence, readPackIndex, type Location, type PackEntry } from './pack.ts';

/** Chunks are kept from this many of the last packs. */
const LAST_PACKS = 8;

export interface Arrived {
  segments: Map<string, { location: Location; packs: string[] }>;
  chunks: Map<string, Location>;
  /** the number the next pack takes */
  nextSeq: number;
}

/** A map that forgets its oldest entries beyond `limit`: memory bounded whatever the image size. */
export class Recent<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly limit: number) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value!);
  }
}

export async function arrivedPacks(store: ArchiveStore, key: ArchiveKey | null, generation: string): Promise<Arrived> {
  const objects = (await store.list(`${PACKS}${generation}/`)).filter((o) => isPackKey(o.key));
  objects.sort((a, b) => packSequence(a.key) - packSequence(b.key));
  const indexes = new Map<string, PackEntry[]>();
  for (const object of objects) {
    try {
      indexes.set(object.key, await readPackIndex(store, object.key, object.size, key));
    } catch (error) {
      // a pack whose index does not read is as if it had not arrived: what it holds is sent again
      if (!isDataLoss(error)) throw error;
    }
  }
  const last = objects.length ? packSequence(objects[objects.length - 1]!.key) : 0;
  const arrived: Arrived = { segments: new Map(), chunks: new Map(), nextSeq: last + 1 };
  for (const [pack, entries] of indexes) {
    const recent = packSequence(pack) > last - LAST_PACKS;
    for (const { kind, name, offset, length, packs } of entries) {
      const location = { pack, offset, length };
      if (kind === 'segment' && packs?.every((p) => indexes.has(p)))
        arrived.segments.set(name, { location, packs: packs });
      else if (kind === 'chunk' && recent) arrived.chunks.set(name, location);
    }
  }
  return arrived;
}
