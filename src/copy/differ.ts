// Which blocks of a recovery's target differ from the copy it is recovered from: the target is
// read once and the hash of each block compared with the copy's ledger (qrv recover, method
// "ledger"). Only those blocks are then read from the copy and written (replicate.ts, base
// "differs").
import type { FileHandle } from 'node:fs/promises';
import type { ByteRange } from '../core/byte-range.ts';
import type { Phase, Reporter } from '../core/events.ts';
import type { LedgerReader } from '../ledger/ledger.ts';
import { extend } from './block-ranges.ts';
import { hashPieces } from './scan.ts';

/**
 * Ranges kept before a new one is joined onto the last instead: the equal blocks between are
 * then written too (harmless: they already hold the copy's data), and memory stays bounded
 * however scattered the differences are.
 */
export const MAX_DIFFERING_RANGES = 65_536;

export interface Differences {
  /** the byte ranges where the target differs from the ledger, merged, in order */
  ranges: ByteRange[];
  /** bytes of the target hashed (holes of a sparse image included, not read) */
  bytesScanned: number;
  /** blocks that differ */
  blocks: number;
}

export interface DifferOptions {
  /** the target, for messages and (a file) its extent map */
  path: string;
  /** the target, opened once and checked: read through this */
  handle: FileHandle;
  /** the copy's ledger: what each block of the target must hold */
  ledger: LedgerReader;
  /** block-aligned ranges to look at (a write-back's written ranges, read back); default all */
  ranges?: ByteRange[];
  /** the progress events' phase; default 'recover' */
  phase?: Phase;
  reporter?: Reporter;
}

export async function differingRanges(options: DifferOptions): Promise<Differences> {
  const { ledger } = options;
  const { sizeBytes, blockSize } = ledger.header;
  const found: Differences = { ranges: [], bytesScanned: 0, blocks: 0 };
  const scan = { path: options.path, handle: options.handle, sizeBytes, blockSize, phase: options.phase ?? 'recover' };
  const optional = {
    ...(options.ranges ? { ranges: options.ranges } : {}),
    ...(options.reporter ? { reporter: options.reporter } : {}),
  };
  for await (const piece of hashPieces({ ...scan, ...optional })) {
    const recorded = await ledger.hashes(piece.first, piece.hashes.length);
    for (let index = 0; index < piece.hashes.length; index++) {
      if (piece.hashes[index] === recorded[index]) continue;
      const start = (piece.first + index) * blockSize;
      const end = Math.min(start + blockSize, sizeBytes);
      const last = found.ranges.at(-1);
      if (last && found.ranges.length >= MAX_DIFFERING_RANGES) last.end = end;
      else extend(found.ranges, start, end);
      found.blocks++;
    }
    found.bytesScanned += piece.bytes;
  }
  return found;
}
