// Sequential, read-ahead chunk reader: reads exactly `sizeBytes` from an open handle in
// `bufferSize` chunks, keeping up to `depth` reads in flight on libuv's thread pool so the next
// chunk arrives while the caller hashes and writes the current one. Memory is bounded by
// depth × bufferSize whatever the image size.
import type { FileHandle } from 'node:fs/promises';
import { QrvError } from '../core/errors.ts';
import { allocateAlignedBuffers } from './aligned-buffers.ts';
import { ioCall } from '../core/io-error.ts';
import { isHole, type ByteRange } from '../core/byte-range.ts';

export interface ChunkReaderOptions {
  handle: FileHandle;
  /** Path of the handle, for error messages. */
  path: string;
  sizeBytes: number;
  bufferSize: number;
  /** Buffers in rotation = reads in flight while the caller holds one chunk. ≥ 1. */
  depth: number;
  /** The source's data ranges: a chunk that lies wholly in a hole is not read but yielded as zeros. */
  data?: ByteRange[] | null;
}

/** Reads until `length` bytes are in `buffer` or the file ends; returns the count read. */
async function readFull(
  handle: FileHandle,
  path: string,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await ioCall('read', path, () => handle.read(buffer, got, length - got, position + got));
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

export function shortReadError(path: string, bytesAvailable: number, sizeBytes: number): QrvError {
  return new QrvError(
    'io',
    'short-read',
    `${path} ended after ${bytesAvailable} bytes; expected ${sizeBytes} bytes`,
    'the source is smaller than the volume size: check that the snapshot is complete and the size recorded for the volume is right',
  );
}

export interface Piece {
  /** byte offset of `data` in the image */
  offset: number;
  /** a view of a reused buffer: valid only until the next piece is asked for */
  data: Buffer;
  /** true when the piece lies wholly in a hole and was not read (data is zeros) */
  hole: boolean;
}

/**
 * Yields the image as consecutive chunks, in order. A yielded chunk is a view of a reused buffer:
 * it is valid only until the caller asks for the next chunk. Throws QrvError('io', 'short-read')
 * if the source ends early. Pending reads are awaited before the generator finishes, so the
 * caller may close the handle right after the loop, even after an error.
 */
export async function* readChunks(options: ChunkReaderOptions): AsyncGenerator<Buffer, void, undefined> {
  for await (const piece of readPieces({ ...options, ranges: [{ start: 0, end: options.sizeBytes }] }))
    yield piece.data;
}

/**
 * Reads the given byte ranges of the image (sorted, not overlapping, within sizeBytes) in pieces
 * of at most `bufferSize` bytes that never cross a range boundary, `depth` reads in flight.
 * Incremental copies read only changed ranges; resumed copies start past what was done.
 */
export async function* readPieces(
  options: ChunkReaderOptions & { ranges: ByteRange[] },
): AsyncGenerator<Piece, void, undefined> {
  const { handle, path, sizeBytes, bufferSize } = options;
  const size = Math.min(bufferSize, sizeBytes);
  if (size <= 0) return;
  // The plan is walked lazily: a terabyte volume must not cost a list of a million pieces.
  function* plan(): Generator<{ offset: number; length: number }> {
    for (const range of options.ranges) {
      const end = Math.min(range.end, sizeBytes);
      for (let offset = range.start; offset < end; offset += bufferSize)
        yield { offset, length: Math.min(bufferSize, end - offset) };
    }
  }
  const pieces = plan();
  const depth = Math.max(1, options.depth);
  const buffers = allocateAlignedBuffers(depth, size);
  const zeros = options.data ? Buffer.alloc(size) : null;
  const inflight: Array<{ offset: number; length: number; buffer: Buffer; hole: boolean; pending: Promise<number> }> =
    [];
  let started = 0;

  const startNext = (): boolean => {
    const next = pieces.next();
    if (next.done) return false;
    const { offset, length } = next.value;
    const hole = Boolean(options.data) && isHole(options.data as ByteRange[], offset, offset + length);
    // A hole reads as zeros: nothing to ask the disk. (The zero buffer is never written to.)
    const buffer = hole ? (zeros as Buffer) : (buffers[started % depth] as Buffer);
    started++;
    const pending = hole ? Promise.resolve(length) : readFull(handle, path, buffer, length, offset);
    // Mark as handled now: if a later read fails while an earlier one is awaited, it must not
    // surface as an unhandled rejection. The failure is still thrown when it is awaited.
    pending.catch(() => undefined);
    inflight.push({ offset, length, buffer, hole, pending });
    return true;
  };

  try {
    while (inflight.length < depth && startNext());
    for (let current = inflight.shift(); current; current = inflight.shift()) {
      const got = await current.pending;
      if (got < current.length) throw shortReadError(path, current.offset + got, sizeBytes);
      yield { offset: current.offset, data: current.buffer.subarray(0, current.length), hole: current.hole };
      // The caller is done with this piece's buffer: reuse it for the read `depth` pieces ahead.
      startNext();
    }
  } finally {
    await Promise.allSettled(inflight.map((i) => i.pending));
  }
}
