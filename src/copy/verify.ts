// Checking a QRV block by block against its hash ledger, without touching the source; with a
// snapshot (--deep), also against the snapshot the QRV reflects, read in step with it.
import type { FileHandle } from 'node:fs/promises';
import type { Phase, Reporter } from '../core/events.ts';
import { LedgerReader, type LedgerExpectation } from '../ledger/ledger.ts';
import type { ByteRange } from '../core/byte-range.ts';
import type { RateLimit } from '../core/rate.ts';
import { hashPieces } from './scan.ts';

/** Bad block indexes listed in full up to this many; beyond, only counted. */
export const MAX_LISTED = 1000;

export interface VerifyOptions {
  /** the QRV: image file or block device */
  path: string;
  /** the QRV already open (the copy's destination): read back through it */
  handle?: FileHandle;
  /** its ledger (validated when opened) */
  ledgerPath: string;
  /** what the ledger must describe (else LedgerError 'mismatch') */
  expect?: LedgerExpectation;
  /** block-aligned ranges to check; default the whole image */
  ranges?: ByteRange[];
  /** the snapshot the ledger reflects, to compare with as well */
  snapshotPath?: string;
  /** keeps the bytes read (from the QRV, and the snapshot) at or below a rate */
  rate?: RateLimit | null;
  reporter?: Reporter;
  phase?: Phase;
}

export interface VerifyOutcome {
  /** first MAX_LISTED indexes of blocks where the QRV differs from its ledger (or from the snapshot) */
  bad: number[];
  badCount: number;
  /** with a snapshot: blocks where the snapshot differs from the ledger (the snapshot is not what was copied) */
  snapshotDiffers: number[];
  snapshotDiffersCount: number;
  blockSize: number;
  sizeBytes: number;
  bytesChecked: number;
}

export async function verifyBlocks(options: VerifyOptions): Promise<VerifyOutcome> {
  const ledger = await LedgerReader.open(options.ledgerPath, options.expect);
  try {
    const { blockSize, sizeBytes } = ledger.header;
    const scan = {
      sizeBytes,
      blockSize,
      ranges: options.ranges,
      reporter: options.reporter,
      phase: options.phase ?? ('verify' as const),
    };
    const outcome: VerifyOutcome = {
      bad: [],
      badCount: 0,
      snapshotDiffers: [],
      snapshotDiffersCount: 0,
      blockSize,
      sizeBytes,
      bytesChecked: 0,
    };
    const qrv = hashPieces({ ...scan, path: options.path, ...(options.handle ? { handle: options.handle } : {}) });
    // The snapshot is read in step with the QRV, without its own progress events.
    const snapshot = options.snapshotPath
      ? hashPieces({ ...scan, path: options.snapshotPath, reporter: undefined })
      : null;
    try {
      for await (const piece of qrv) {
        const theirs = snapshot ? (await snapshot.next()).value : undefined;
        const recorded = await ledger.hashes(piece.first, piece.hashes.length);
        comparePiece(outcome, piece.first, { ours: piece.hashes, recorded, theirs: theirs?.hashes });
        outcome.bytesChecked += piece.bytes;
        await options.rate?.take(snapshot ? 2 * piece.bytes : piece.bytes);
      }
    } finally {
      await snapshot?.return(undefined);
    }
    return outcome;
  } finally {
    await ledger.close();
  }
}

/** One piece's blocks: the QRV's hashes against the ledger's (and the snapshot's, when read). */
function comparePiece(
  outcome: VerifyOutcome,
  first: number,
  hashes: { ours: BigUint64Array; recorded: BigUint64Array; theirs: BigUint64Array | undefined },
): void {
  const { ours, recorded, theirs } = hashes;
  for (let index = 0; index < ours.length; index++) {
    const other = theirs?.[index];
    if (ours[index] !== recorded[index] || (other !== undefined && ours[index] !== other)) {
      if (outcome.bad.length < MAX_LISTED) outcome.bad.push(first + index);
      outcome.badCount++;
    }
    if (other !== undefined && other !== recorded[index]) {
      if (outcome.snapshotDiffers.length < MAX_LISTED) outcome.snapshotDiffers.push(first + index);
      outcome.snapshotDiffersCount++;
    }
  }
}
