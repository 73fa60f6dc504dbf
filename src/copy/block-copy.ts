// Whole-image copies and checksums: a copy onto a new or emptied destination (the file
// provider's sparse clones) is the copy engine with nothing known about the destination; a
// checksum is computed exactly as the engine computes it, so a copy is checked by comparing the
// two strings. The engine itself is in replicate.ts.
import type { FileHandle } from 'node:fs/promises';
import type { Phase, Reporter } from '../core/events.ts';
import { ImageChecksum } from '../ledger/ledger.ts';
import { DEFAULT_BLOCK_SIZE, replicate, type CopyResult } from './replicate.ts';
import { scanBlocks } from './scan.ts';
import type { DestinationKind } from './endpoints.ts';

export { DEFAULT_BLOCK_SIZE, DEFAULT_BUFFER_SIZE, DEFAULT_READ_DEPTH, type CopyResult } from './replicate.ts';

export interface CopyOptions {
  /** Path of a snapshot image file or block device. */
  source: string;
  /** Image file path or block device path. */
  destination: string;
  /** The destination opened by the caller (openPlanned), written through and left open; its mode is kept. */
  destinationHandle?: FileHandle;
  /** Logical bytes to copy (the volume's size). */
  sizeBytes: number;
  destinationKind: DestinationKind;
  /** Progress events via ProgressMeter. */
  reporter?: Reporter;
  /** Default 'copy'. */
  phase?: Phase;
  /** Unit of hashing and zero detection; default 64 KiB. */
  blockSize?: number;
  /** Bytes per read; rounded up to a multiple of blockSize. Default 1 MiB. */
  bufferSize?: number;
  /** Tuning: buffers in rotation (reads in flight); default 2. */
  readDepth?: number;
}

/**
 * Copies `sizeBytes` of `source` to an emptied `destination` (a file is cut to holes first and
 * only non-zero blocks are written; a device gets every block), reading the source once, and
 * returns the checksum of what it read. The destination is durable (fdatasync) when it resolves.
 */
export function copyImage(options: CopyOptions): Promise<CopyResult> {
  return replicate({ ...options, keepMode: true, base: { kind: 'fresh' } });
}

/** How checksumImage reads: `handle`, the image already open (read through it, left open). */
export interface ChecksumOptions {
  reporter?: Reporter;
  phase?: Phase;
  blockSize?: number;
  handle?: FileHandle;
}

/**
 * The checksum of the first `sizeBytes` of an image file or device ("xxh64-blocks:…", over the
 * xxh64 of each block), computed exactly as the copy engine computes it.
 */
export async function checksumImage(path: string, sizeBytes: number, options: ChecksumOptions = {}): Promise<string> {
  const { reporter, phase = 'verify', blockSize = DEFAULT_BLOCK_SIZE, handle } = options;
  const checksum = new ImageChecksum();
  await scanBlocks({ path, handle, sizeBytes, blockSize, reporter, phase }, (_first, hashes) => {
    checksum.add(hashes);
  });
  return checksum.value();
}
