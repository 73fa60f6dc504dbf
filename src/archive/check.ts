// Checking a generation in its store: its manifest (its own SHA-256, and its seal when sealed),
// then that every chunk it names is there; deep, also every chunk's content against its name and
// the whole image against the checksum the manifest recorded (the chunks read in order, hashed
// per block as the copy engine does), without writing anything anywhere.
import { isQrvError } from '../core/errors.ts';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { ImageChecksum, blockHashes } from '../ledger/format.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { openChunk } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import type { Manifest } from './manifest.ts';
import { chunkKey, storedChunks } from './layout.ts';

export interface CheckOutcome {
  chunks: number;
  /** chunks the manifest names that the store does not hold */
  missing: string[];
  /** chunks whose content does not match their name (deep) */
  damaged: string[];
  /** the image's checksum as read from the chunks (deep), or null */
  checksum: string | null;
  bytesFetched: number;
}

export async function checkGeneration(
  store: ArchiveStore,
  manifest: Manifest,
  key: ArchiveKey | null,
  options: { deep: boolean; reporter: Reporter },
): Promise<CheckOutcome> {
  const held = await storedChunks(store);
  const named = manifest.chunks.filter(Boolean);
  const outcome: CheckOutcome = {
    chunks: named.length,
    missing: [...new Set(named.filter((name) => !held.has(name)))],
    damaged: [],
    checksum: null,
    bytesFetched: 0,
  };
  if (!options.deep) return outcome;
  const meter = new ProgressMeter(options.reporter, 'verify', manifest.sizeBytes);
  const image = new ImageChecksum();
  const zeros = Buffer.alloc(manifest.chunkSize);
  for (const [index, name] of manifest.chunks.entries()) {
    const length = Math.min(manifest.chunkSize, manifest.sizeBytes - index * manifest.chunkSize);
    let data: Buffer = zeros.subarray(0, length);
    if (name && held.has(name)) {
      const object = await store.get(chunkKey(name));
      outcome.bytesFetched += object.length;
      try {
        data = await openChunk(name, object, key);
      } catch (error) {
        // a wrong key, or a store that cannot be read, is not a damaged chunk: it ends the check
        if (!(isQrvError(error) && error.code === 'archive-corrupt')) throw error;
        outcome.damaged.push(name);
      }
    }
    const hashes = blockHashes(data, manifest.blockSize);
    image.add(hashes);
    meter.update(Math.min((index + 1) * manifest.chunkSize, manifest.sizeBytes));
  }
  meter.finish(manifest.sizeBytes);
  outcome.checksum = image.value();
  return outcome;
}
