// Sequential, read-ahead chunk reader: reads exactly `sizeBytes` from an open handle in
// `bufferSize` chunks, keeping up to `depth` reads in flight on libuv's thread pool so the next
// chunk arrives while the caller hashes and writes the current one. Memory is bounded by
// depth × bufferSize whatever the image size.
import type { FileHandle } from 'node:fs/promises';
import { QrvError } from '../core/errors.ts';
import { allocateAlignedBuffers } from './aligned-buffers.ts';
import { ioCall } from './io-error.ts';
import { isHole, type ByteRange } from './extent-map.ts';

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
async function readFull(handle: FileHandle, path: string, buffer: Buffer, length: number, position: number): Promise<number> {
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

/**
 * Yields the image as consecutive chunks, in order. A yielded chunk is a view of a reused buffer:
 * it is valid only until the caller asks for the next chunk. Throws QrvError('io', 'short-read')
 * if the source ends early. Pending reads are awaited before the generator finishes, so the
 * caller may close the handle right after the loop, even after an error.
 */
export async function* readChunks(options: ChunkReaderOptions): AsyncGenerator<Buffer, void, undefined> {
  const { handle, path, sizeBytes, bufferSize } = options;
  const count = Math.ceil(sizeBytes / bufferSize);
  const depth = Math.max(1, Math.min(options.depth, count));
  const buffers = allocateAlignedBuffers(depth, Math.min(bufferSize, sizeBytes));
  const inflight: Promise<number>[] = [];
  let started = 0;

  const lengthOf = (index: number): number => Math.min(bufferSize, sizeBytes - index * bufferSize);
  const hole = (index: number): boolean => Boolean(options.data) && isHole(options.data as ByteRange[], index * bufferSize, index * bufferSize + lengthOf(index));
  const zeros = options.data ? Buffer.alloc(Math.min(bufferSize, sizeBytes)) : null;
  const bufferOf = (index: number): Buffer => (hole(index) ? (zeros as Buffer) : (buffers[index % depth] as Buffer));
  const startNext = (): void => {
    const index = started++;
    // A hole reads as zeros: nothing to ask the disk. (The zero buffer is never written to.)
    const pending = hole(index) ? Promise.resolve(lengthOf(index)) : readFull(handle, path, bufferOf(index), lengthOf(index), index * bufferSize);
    // Mark as handled now: if a later read fails while an earlier one is awaited, it must not
    // surface as an unhandled rejection. The failure is still thrown when it is awaited.
    pending.catch(() => undefined);
    inflight.push(pending);
  };

  try {
    while (started < count && inflight.length < depth) startNext();
    for (let index = 0; index < count; index++) {
      const length = lengthOf(index);
      const got = await (inflight.shift() as Promise<number>);
      if (got < length) throw shortReadError(path, index * bufferSize + got, sizeBytes);
      yield bufferOf(index).subarray(0, length);
      // The caller is done with this chunk's buffer: reuse it for the read `depth` chunks ahead.
      if (started < count) startNext();
    }
  } finally {
    await Promise.allSettled(inflight);
  }
}
