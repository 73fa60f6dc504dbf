// Reading an image to hash its blocks, for checksums and for `qrv verify`: the same reader and
// the same per-block hashes as the copy engine, over the whole image or only some ranges.
import type { FileHandle } from 'node:fs/promises';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter, type Phase, type Reporter } from '../core/events.ts';
import { blockHashes } from '../ledger/ledger.ts';
import { readPieces } from './chunk-reader.ts';
import { openSource } from './endpoints.ts';
import { dataRanges } from '../system/extent-map.ts';
import { type ByteRange } from '../core/byte-range.ts';
import { checkSize } from './copy-checks.ts';
import { DEFAULT_BUFFER_SIZE, DEFAULT_READ_DEPTH } from './replicate.ts';

export interface ScanOptions {
  path: string;
  /** the image already open (the copy's destination): read through it, left open */
  handle?: FileHandle;
  sizeBytes: number;
  blockSize: number;
  /** block-aligned ranges to read; default the whole image */
  ranges?: ByteRange[];
  reporter?: Reporter;
  phase?: Phase;
}

export interface HashedPiece {
  /** index of the piece's first block */
  first: number;
  hashes: BigUint64Array;
  bytes: number;
}

/** The hashes of consecutive blocks of the image (or of the given ranges), in order. */
export async function* hashPieces(options: ScanOptions): AsyncGenerator<HashedPiece, void, undefined> {
  const { path, sizeBytes, blockSize } = options;
  checkSize(sizeBytes);
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0)
    throw new QrvError(
      'usage',
      'bad-copy-option',
      `blockSize must be a positive whole number of bytes, got ${blockSize}`,
    );
  const ranges = options.ranges ?? [{ start: 0, end: sizeBytes }];
  const total = ranges.reduce((sum, r) => sum + Math.max(0, Math.min(r.end, sizeBytes) - r.start), 0);
  const meter = options.reporter ? new ProgressMeter(options.reporter, options.phase ?? 'verify', total) : undefined;
  const bufferSize = Math.ceil(DEFAULT_BUFFER_SIZE / blockSize) * blockSize;
  const { handle, stats } = options.handle
    ? { handle: options.handle, stats: await options.handle.stat() }
    : await openSource(path, sizeBytes);
  let done = 0;
  try {
    meter?.update(0, true);
    // An open file's extents are read through its descriptor, not its name.
    const data = stats.isFile()
      ? await dataRanges(options.handle ? `/proc/${process.pid}/fd/${options.handle.fd}` : path)
      : null;
    for await (const piece of readPieces({
      handle,
      path,
      sizeBytes,
      bufferSize,
      depth: DEFAULT_READ_DEPTH,
      data,
      ranges,
    })) {
      yield { first: piece.offset / blockSize, hashes: blockHashes(piece.data, blockSize), bytes: piece.data.length };
      done += piece.data.length;
      meter?.update(done);
    }
  } finally {
    if (!options.handle) await handle.close().catch(() => undefined);
  }
  meter?.finish(done);
}

/** Calls `onPiece` with the hashes of consecutive blocks, in order; returns the bytes hashed. */
export async function scanBlocks(
  options: ScanOptions,
  onPiece: (first: number, hashes: BigUint64Array) => void | Promise<void>,
): Promise<number> {
  let bytes = 0;
  for await (const piece of hashPieces(options)) {
    await onPiece(piece.first, piece.hashes);
    bytes += piece.bytes;
  }
  return bytes;
}
