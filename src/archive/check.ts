// Checking a generation in its store: its manifest (its own SHA-256, and its seal when sealed),
// then that every pack it uses is there and long enough for what it holds; deep, also every
// segment blob and chunk against its name, and the whole image against the checksum the manifest
// recorded (the chunks read in order, hashed per block as the copy engine does), without writing
// anything anywhere.
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { ImageChecksum, blockHashes } from '../ledger/format.ts';
import type { ArchiveStore } from '../stores/store.ts';
import type { ArchiveKey } from './key.ts';
import { PACKS } from './layout.ts';
import { packsUsed, segmentShape, type Manifest } from './manifest.ts';
import { readSegment } from './read.ts';

export interface CheckOutcome {
  /** the packs the generation uses */
  packs: number;
  /** packs it uses that the store does not hold */
  missing: string[];
  /** segments and chunks whose content does not match their name (deep) */
  damaged: string[];
  /** the image's checksum as read from the chunks (deep), or null */
  checksum: string | null;
  bytesFetched: number;
}

/** The packs the store holds, with their sizes. */
async function storedPacks(store: ArchiveStore): Promise<Map<string, number>> {
  return new Map((await store.list(PACKS)).map((o) => [o.key, o.size]));
}

export async function checkGeneration(
  store: ArchiveStore,
  manifest: Manifest,
  key: ArchiveKey | null,
  options: { deep: boolean; reporter: Reporter },
): Promise<CheckOutcome> {
  const held = await storedPacks(store);
  const used = packsUsed(manifest);
  const missing = [...used].filter((pack) => !held.has(pack));
  const outcome: CheckOutcome = { packs: used.size, missing, damaged: [], checksum: null, bytesFetched: 0 };
  // a segment blob beyond the end of its pack: the pack was cut short
  for (const entry of manifest.segments)
    if (entry && held.has(manifest.packs[entry[1]]!) && entry[2] + entry[3] > held.get(manifest.packs[entry[1]]!)!)
      outcome.damaged.push(`segment ${entry[0]} (${manifest.packs[entry[1]]} is cut short)`);
  if (!options.deep) return outcome;
  const meter = new ProgressMeter(options.reporter, 'verify', manifest.sizeBytes);
  const image = new ImageChecksum();
  const zeros = Buffer.alloc(manifest.chunkSize);
  const reported = new Set(outcome.damaged);
  const onDamaged = (what: string) => {
    if (!what.includes('(in the missing') && !reported.has(what)) outcome.damaged.push(what);
    reported.add(what);
  };
  const read = { store, key, manifest, missing: new Set(missing), onDamaged };
  for (let i = 0; i < manifest.segments.length; i++) {
    const { chunks, bytesFetched } = await readSegment(read, i);
    outcome.bytesFetched += bytesFetched;
    const { length } = segmentShape(manifest, i);
    chunks.forEach((data, j) => {
      const size = Math.min(manifest.chunkSize, length - j * manifest.chunkSize);
      image.add(blockHashes(data ?? zeros.subarray(0, size), manifest.blockSize));
    });
    meter.update(i * manifest.segmentSize + length);
  }
  meter.finish(manifest.sizeBytes);
  outcome.checksum = image.value();
  return outcome;
}
