// Restoring a generation's image: every segment read (read.ts: every chunk fetched, opened and
// checked against its name before a byte of it is written; a damaged chunk stops the restore:
// nothing is ever restored silently), written at its place through the descriptor the caller
// opened and checked. Chunks of zeros are written as zeros, unless the target was new (a sparse
// file: they stay holes). At most FETCHES segments are read at once.
import type { FileHandle } from 'node:fs/promises';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { ioCall, writeAll } from '../core/io-error.ts';
import { allSettledOrThrow } from '../core/settle.ts';
import type { ArchiveStore } from '../stores/store.ts';
import type { ArchiveKey } from './key.ts';
import { segmentShape, type Manifest } from './manifest.ts';
import { readSegment } from './read.ts';

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

/** Writes segment `i`'s chunks: runs of chunks that follow one another as one write each. */
async function writeSegment(plan: RestorePlan, i: number, chunks: (Buffer | null)[]): Promise<number> {
  const { manifest } = plan;
  const zeros = Buffer.alloc(manifest.chunkSize);
  const base = i * manifest.segmentSize;
  let written = 0;
  let run: Buffer[] = [];
  let start = 0;
  const flush = async () => {
    if (!run.length) return;
    const data = run.length === 1 ? run[0]! : Buffer.concat(run);
    await writeAll(plan.handle, plan.target, data, base + start * manifest.chunkSize);
    written += data.length;
    run = [];
  };
  const { length } = segmentShape(manifest, i);
  for (const [j, chunk] of chunks.entries()) {
    const data =
      chunk ?? (plan.fresh ? null : zeros.subarray(0, Math.min(manifest.chunkSize, length - j * manifest.chunkSize)));
    if (!data) await flush();
    else {
      if (!run.length) start = j;
      run.push(data);
    }
  }
  await flush();
  return written;
}

export async function restoreGeneration(plan: RestorePlan): Promise<RestoreResult> {
  const { manifest, handle, target } = plan;
  const started = process.hrtime.bigint();
  const meter = new ProgressMeter(plan.reporter, 'recover', manifest.sizeBytes);
  const result: RestoreResult = { bytesFetched: 0, bytesWritten: 0, seconds: 0 };
  let done = 0;
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const read = await readSegment(plan, i);
    result.bytesFetched += read.bytesFetched;
    const written = await writeSegment(plan, i, read.chunks);
    result.bytesWritten += written;
    done += segmentShape(manifest, i).length;
    meter.update(done);
  };
  let stop = false;
  const worker = async (): Promise<void> => {
    try {
      while (!stop && next < manifest.segments.length) await one(next++);
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
