// The copy engine: one sequential pass over the source that hashes every byte and writes a
// block-for-block replica. File destinations stay sparse (zero blocks are never written);
// block-device destinations get every block. Measurements behind the defaults are in
// docs/PERFORMANCE.md ("Full copy").
import type { FileHandle } from 'node:fs/promises';
import { ImageHasher } from '../core/checksum.ts';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter, type Phase, type Reporter } from '../core/events.ts';
import { readChunks } from './chunk-reader.ts';
import { dataRanges } from './extent-map.ts';
import { openDestination, openSource, type DestinationKind } from './endpoints.ts';
import { ioCall } from './io-error.ts';
import { ZeroDetector } from './zero-runs.ts';

export const DEFAULT_BLOCK_SIZE = 64 * 1024;
/**
 * Bytes per read. 1 MiB measured best end to end on the reference machine: 4 MiB buffers were
 * ≈ 25 % slower on a full volume (the data no longer stays in the CPU cache between the read
 * and the write), 256 KiB paid more per-call overhead (docs/PERFORMANCE.md).
 */
export const DEFAULT_BUFFER_SIZE = 1024 * 1024;
/** Buffers in rotation: 2 = read the next chunk while the current one is hashed and written. */
export const DEFAULT_READ_DEPTH = 2;

export interface CopyOptions {
  /** Path of a snapshot image file or block device. */
  source: string;
  /** Image file path or block device path. */
  destination: string;
  /** Logical bytes to copy (the volume's size). */
  sizeBytes: number;
  destinationKind: DestinationKind;
  /** Progress events via ProgressMeter. */
  reporter?: Reporter;
  /** Default 'copy'. */
  phase?: Phase;
  /** Unit of zero detection; default 64 KiB. */
  blockSize?: number;
  /** Bytes per read; rounded up to a multiple of blockSize. Default 1 MiB. */
  bufferSize?: number;
  /** Tuning: buffers in rotation (reads in flight); default 2. */
  readDepth?: number;
}

export interface CopyResult {
  bytesRead: number;
  /** Bytes written to the destination: zero blocks skipped in a file destination are not counted. */
  bytesWritten: number;
  /** Bytes of all-zero blocks left as holes in a file destination (0 for block devices). */
  zeroBytesSkipped: number;
  /** "xxh64:<16 hex>" over exactly sizeBytes bytes of the source. */
  checksum: string;
  seconds: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new QrvError('usage', 'bad-copy-option', `${name} must be a positive whole number of bytes, got ${value}`);
  }
  return value;
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new QrvError('usage', 'bad-copy-option', `the volume size must be a whole number of bytes ≥ 0, got ${sizeBytes}`);
  }
}

async function writeAll(handle: FileHandle, path: string, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await ioCall('write', path, () => handle.write(data, done, data.length - done, position + done));
    done += bytesWritten;
  }
}

/**
 * Copies `sizeBytes` of `source` to `destination`, reading the source once, and returns the
 * checksum of what it read. The destination is durable (fdatasync) when the promise resolves.
 */
export async function copyImage(options: CopyOptions): Promise<CopyResult> {
  const started = process.hrtime.bigint();
  const { source, destination, sizeBytes, destinationKind } = options;
  checkSize(sizeBytes);
  const blockSize = positiveInteger('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE);
  const requested = positiveInteger('bufferSize', options.bufferSize ?? DEFAULT_BUFFER_SIZE);
  const bufferSize = Math.ceil(requested / blockSize) * blockSize;
  const readDepth = positiveInteger('readDepth', options.readDepth ?? DEFAULT_READ_DEPTH);
  const meter = options.reporter ? new ProgressMeter(options.reporter, options.phase ?? 'copy', sizeBytes) : undefined;

  const hasher = new ImageHasher();
  const zeros = new ZeroDetector(blockSize);
  let bytesRead = 0;
  let bytesWritten = 0;

  const src = await openSource(source, sizeBytes);
  try {
    const dst = await openDestination(destination, destinationKind, sizeBytes, src.stats);
    try {
      meter?.update(0, true);
      const data = src.stats.isFile() ? await dataRanges(source) : null;
      for await (const chunk of readChunks({ handle: src.handle, path: source, sizeBytes, bufferSize, depth: readDepth, data })) {
        hasher.update(chunk);
        if (destinationKind === 'block') {
          // A block device cannot hold holes and its old content is unknown: every block is
          // written, zeros included, or stale data would show through the replica.
          await writeAll(dst, destination, chunk, bytesRead);
          bytesWritten += chunk.length;
        } else {
          // The file was truncated to all holes: zero blocks already read back as zeros.
          for (const run of zeros.nonZeroRuns(chunk)) {
            await writeAll(dst, destination, chunk.subarray(run.start, run.end), bytesRead + run.start);
            bytesWritten += run.end - run.start;
          }
        }
        bytesRead += chunk.length;
        meter?.update(bytesRead);
      }
      // One flush at the end. Flushing in the background while still reading was measured
      // slower: reads stall behind writeback on the same disk (docs/PERFORMANCE.md).
      await ioCall('sync', destination, () => dst.datasync());
    } finally {
      await dst.close().catch(() => undefined);
    }
  } finally {
    await src.handle.close().catch(() => undefined);
  }
  meter?.finish(bytesRead);
  return {
    bytesRead,
    bytesWritten,
    zeroBytesSkipped: bytesRead - bytesWritten,
    checksum: hasher.digest(),
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

/**
 * The checksum of the first `sizeBytes` of an image file or device, computed exactly as copyImage
 * computes it, so a copy is verified by comparing the two strings.
 */
export async function checksumImage(path: string, sizeBytes: number, reporter?: Reporter, phase: Phase = 'verify'): Promise<string> {
  checkSize(sizeBytes);
  const meter = reporter ? new ProgressMeter(reporter, phase, sizeBytes) : undefined;
  const hasher = new ImageHasher();
  const { handle, stats } = await openSource(path, sizeBytes);
  try {
    meter?.update(0, true);
    const data = stats.isFile() ? await dataRanges(path) : null;
    for await (const chunk of readChunks({ handle, path, sizeBytes, bufferSize: DEFAULT_BUFFER_SIZE, depth: DEFAULT_READ_DEPTH, data })) {
      hasher.update(chunk);
      meter?.update(hasher.bytesHashed);
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
  meter?.finish(hasher.bytesHashed);
  return hasher.digest();
}
