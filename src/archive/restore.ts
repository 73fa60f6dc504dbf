// Restoring a generation's image: every chunk fetched, opened and checked against its name before
// a byte of it is written (a damaged chunk stops the restore: nothing is ever restored silently),
// written at its place through the descriptor the caller opened and checked. Chunks of zeros are
// written as zeros, unless the target was new (a sparse file: they stay holes). At most FETCHES
// chunks are fetched at once.
import type { FileHandle } from 'node:fs/promises';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { ioCall, writeAll } from '../core/io-error.ts';
import { allSettledOrThrow } from '../core/settle.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { corrupt, openChunk } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { chunkKey } from './layout.ts';
import type { Manifest } from './manifest.ts';

const FETCHES = 4;

export interface RestorePlan {
  store: ArchiveStore;
  key: ArchiveKey | null;
  manifest: Manifest;
  handle: FileHandle;
  /** the target's path, for messages */
  target: string;
  /** the target is a new, empty file: zero chunks stay holes */
  fresh: boolean;
  reporter: Reporter;
}

export interface RestoreResult {
  bytesFetched: number;
  bytesWritten: number;
  seconds: number;
}

export async function restoreGeneration(plan: RestorePlan): Promise<RestoreResult> {
  const { store, key, manifest, handle, target } = plan;
  const started = process.hrtime.bigint();
  const meter = new ProgressMeter(plan.reporter, 'recover', manifest.sizeBytes);
  const result: RestoreResult = { bytesFetched: 0, bytesWritten: 0, seconds: 0 };
  const zeros = plan.fresh ? null : Buffer.alloc(manifest.chunkSize);
  let done = 0;
  let next = 0;
  const one = async (index: number): Promise<void> => {
    const name = manifest.chunks[index]!;
    const offset = index * manifest.chunkSize;
    const length = Math.min(manifest.chunkSize, manifest.sizeBytes - offset);
    let data: Buffer | null = null;
    if (name) {
      const object = await store.get(chunkKey(name));
      result.bytesFetched += object.length;
      data = await openChunk(name, object, key);
      if (data.length !== length)
        throw corrupt(`chunk ${index} of ${manifest.id}`, `it holds ${data.length} bytes, not ${length}`);
    } else if (zeros) data = zeros.subarray(0, length);
    if (data) {
      await writeAll(handle, target, data, offset);
      result.bytesWritten += data.length;
    }
    done += length;
    meter.update(done);
  };
  let stop = false;
  const worker = async (): Promise<void> => {
    try {
      while (!stop && next < manifest.chunks.length) await one(next++);
    } catch (error) {
      stop = true;
      throw error;
    }
  };
  // every worker has stopped before this returns or throws: none writes after the caller closes the target
  await allSettledOrThrow(Array.from({ length: FETCHES }, worker));
  if (plan.fresh) await ioCall('truncate', target, () => handle.truncate(manifest.sizeBytes));
  await ioCall('sync', target, () => handle.datasync());
  meter.finish(manifest.sizeBytes);
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}
