// The copy engine: brings a destination (image file or block device) to hold exactly the source
// snapshot, block for block, writing only blocks that differ from what the destination is known
// to hold. One engine serves every way of knowing:
//
//   fresh    the destination was just emptied (a file of holes) or its content is unknown (a
//            device): every non-zero block is written (every block, on a device). Method "full".
//   compare  the destination holds an older copy but nothing records what: each block is read
//            from both sides and written where they differ. Method "full" (a full compare).
//   ledger   the QRV's hash ledger records the hash of every block it holds. Without provider
//            ranges, the snapshot is read once and blocks whose hash differs are written
//            (method "ledger"); with provider ranges ("these bytes may have changed"), only those
//            ranges are read and the other blocks' hashes are carried over (method "provider").
//
// Every block read is hashed (xxh64); the hashes become the new ledger and the copy's checksum
// (docs/architecture.md, "Ledger"). Progress is checkpointed at bounded intervals so a killed copy
// resumes where it stopped (F9). Memory is bounded: depth × buffer plus two ledger windows.
import type { FileHandle } from 'node:fs/promises';
import { Xxh64 } from '@node-rs/xxhash';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { ProgressMeter, type Phase, type Reporter } from '../core/events.ts';
import { blockHashes, ledgerChecksum, type LedgerReader, type LedgerWriter } from '../ledger/ledger.ts';
import { readPieces } from './chunk-reader.ts';
import { dataRanges } from '../system/extent-map.ts';
import { type ByteRange } from '../core/byte-range.ts';
import { openDestination, openSource, prepareDestination, type DestinationKind } from './endpoints.ts';
import { GuardedWriter } from './guarded-writer.ts';
import { ioCall } from '../core/io-error.ts';
import type { UndoJournal } from './undo-journal.ts';
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
/**
 * Reads in flight when an update writes little (ledger, provider ranges): the copy is then bound
 * by reading, and more reads in flight kept the disk busier — with 2, the ledger method waited
 * on reads for two thirds of its time (docs/PERFORMANCE.md, "Incremental copies").
 */
export const UPDATE_READ_DEPTH = 4;
/** Hashes per ledger window read or carried over at once (1 MiB of hashes). */
const LEDGER_WINDOW = 128 * 1024;

export type CopyMethod = 'full' | 'provider' | 'ledger';

/** What the destination holds before the copy. */
export type Base =
  | { kind: 'fresh' }
  | { kind: 'compare' }
  | { kind: 'ledger'; ledger: LedgerReader; ranges: ByteRange[] | null };

export interface Progress {
  /** blocks [0, blocksDone) are in the destination (flushed) and in the new ledger */
  blocksDone: number;
  bytesRead: number;
  bytesWritten: number;
  changedBlocks: number;
}

export interface ReplicateOptions {
  /** Path of a snapshot image file or block device. */
  source: string;
  /** Image file path or block device path. */
  destination: string;
  /**
   * The destination opened by the caller (openPlanned), who keeps and closes it; it is prepared
   * here on the descriptor and, a QRV, made 0600. Without it, `destination` is opened by path.
   */
  destinationHandle?: FileHandle;
  /** The given destination is the admin's file (a recovery target): its mode stays theirs. */
  keepMode?: boolean;
  destinationKind: DestinationKind;
  /** Logical bytes to copy (the snapshot's size). */
  sizeBytes: number;
  base: Base;
  /** receives the hash of every block, in order; null when no ledger is kept (recovery, clones) */
  ledgerOut?: LedgerWriter | null;
  /** Unit of hashing, comparison and zero detection; default 64 KiB. */
  blockSize?: number;
  /** Bytes per read; rounded up to a multiple of blockSize. Default 1 MiB. */
  bufferSize?: number;
  /** Tuning: buffers in rotation (reads in flight); default 2. */
  readDepth?: number;
  /** Blocks an earlier, interrupted run of this copy already did (resume). Needs ledgerOut. */
  startBlock?: number;
  /** Saves what each batch of writes overwrites before it is written (an update of a QRV that holds a point in time). */
  undo?: UndoJournal | null;
  /** Called at most every `everyMs` with the destination and the ledger flushed to disk. */
  checkpoint?: { everyMs: number; save: (progress: Progress) => Promise<void> };
  reporter?: Reporter;
  /** Default 'copy'. */
  phase?: Phase;
}

export interface CopyResult {
  method: CopyMethod;
  /** Bytes read from the source (chunks wholly in holes are not read and not counted). */
  bytesRead: number;
  /** Bytes written to the destination. */
  bytesWritten: number;
  /** Blocks written. */
  changedBlocks: number;
  /** Bytes of all-zero blocks left as holes in a new file destination. */
  zeroBytesSkipped: number;
  /** "xxh64-blocks:<16 hex>": xxh64 over the per-block hashes of all sizeBytes of the source. */
  checksum: string;
  /** The byte ranges this run wrote, merged; null when too many to keep (then verify all). */
  written: ByteRange[] | null;
  seconds: number;
}

/** Written ranges kept for the verify step before "verify everything" is cheaper to hold. */
const MAX_WRITTEN_RANGES = 65_536;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new QrvError('usage', 'bad-copy-option', `${name} must be a positive whole number of bytes, got ${value}`);
  }
  return value;
}

export function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new QrvError(
      'usage',
      'bad-copy-option',
      `the volume size must be a whole number of bytes ≥ 0, got ${sizeBytes}`,
    );
  }
}

/** Byte ranges widened to whole blocks, merged, clipped to [from, sizeBytes). */
export function blockAligned(ranges: ByteRange[], blockSize: number, from: number, sizeBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.start - b.start)) {
    const start = Math.max(from, Math.floor(range.start / blockSize) * blockSize);
    const end = Math.min(sizeBytes, Math.ceil(range.end / blockSize) * blockSize);
    if (start >= end) continue;
    const last = out.at(-1);
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else out.push({ start, end });
  }
  return out;
}

/** Merges [start, end) onto the end of a sorted list. */
function extend(ranges: ByteRange[], start: number, end: number): void {
  const last = ranges.at(-1);
  if (last && last.end === start) last.end = end;
  else ranges.push({ start, end });
}

/**
 * Makes `destination` hold the first `sizeBytes` of `source`. The destination is durable
 * (fdatasync) and the ledger finished (renamed into place) when the promise resolves.
 */
// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
export async function replicate(options: ReplicateOptions): Promise<CopyResult> {
  const started = process.hrtime.bigint();
  const { source, destination, sizeBytes, destinationKind, base } = options;
  checkSize(sizeBytes);
  const blockSize = positiveInteger('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE);
  const requested = positiveInteger('bufferSize', options.bufferSize ?? DEFAULT_BUFFER_SIZE);
  const bufferSize = Math.ceil(requested / blockSize) * blockSize;
  const readDepth = positiveInteger(
    'readDepth',
    options.readDepth ?? (base.kind === 'ledger' ? UPDATE_READ_DEPTH : DEFAULT_READ_DEPTH),
  );
  const ledgerOut = options.ledgerOut ?? null;
  const startBlock = options.startBlock ?? 0;
  if (startBlock > 0 && !ledgerOut)
    throw new Error('a copy resumes only with a ledger that holds the hashes of what was done');
  const blockCount = Math.ceil(sizeBytes / blockSize);
  const old = base.kind === 'ledger' ? base.ledger.header : null;
  const method: CopyMethod = base.kind !== 'ledger' ? 'full' : base.ranges ? 'provider' : 'ledger';

  // Which bytes to read. Provider ranges say what may differ; the blocks around a change of size
  // differ in length from the ledger's and are always read.
  let toRead: ByteRange[] = [{ start: startBlock * blockSize, end: sizeBytes }];
  if (base.kind === 'ledger' && base.ranges) {
    const extra =
      old && old.sizeBytes !== sizeBytes ? [{ start: Math.min(old.sizeBytes, sizeBytes), end: sizeBytes }] : [];
    toRead = blockAligned([...base.ranges, ...extra], blockSize, startBlock * blockSize, sizeBytes);
  }
  const total = toRead.reduce((sum, r) => sum + r.end - r.start, 0);
  const meter = options.reporter ? new ProgressMeter(options.reporter, options.phase ?? 'copy', total) : undefined;

  const zeros = new ZeroDetector(blockSize);
  const digest = new Xxh64(0n);
  const written: ByteRange[] = [];
  let keepWritten = true;
  const progress: Progress = { blocksDone: startBlock, bytesRead: 0, bytesWritten: 0, changedBlocks: 0 };
  let zeroBytesSkipped = 0;
  let processed = 0;
  let lastCheckpoint = Date.now();
  let halfway = false;

  const lengthOf = (block: number): number => Math.min(blockSize, sizeBytes - block * blockSize);
  /**
   * What the destination holds at a block before the copy: a hash, "zero" (known to read as
   * zeros), or null (unknown: the block must be written).
   */
  const known = (block: number, oldHashes: BigUint64Array | null, first: number): bigint | 'zero' | null => {
    if (base.kind === 'fresh') return destinationKind === 'file' ? 'zero' : null;
    if (!old) return null;
    const start = block * blockSize;
    if (block < old.blockCount && Math.min(blockSize, old.sizeBytes - start) === lengthOf(block))
      return (oldHashes as BigUint64Array)[block - first] as bigint;
    // A file grown by truncate reads as zeros past its old end; a device past it is unknown.
    return destinationKind === 'file' && start >= old.sizeBytes ? 'zero' : null;
  };

  // The checksum is the xxh64 of the block hashes: the ledger computes it when there is one.
  const emit = async (hashes: BigUint64Array): Promise<void> => {
    if (ledgerOut) await ledgerOut.append(hashes);
    else digest.update(new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength));
  };
  /** Carries the old ledger's hashes of unchanged blocks [from, to) over to the new ledger. */
  const carry = async (from: number, to: number): Promise<void> => {
    for (let block = from; block < to; block += LEDGER_WINDOW) {
      await emit(await (base as { ledger: LedgerReader }).ledger.hashes(block, Math.min(LEDGER_WINDOW, to - block)));
    }
  };

  const src = await openSource(source, sizeBytes);
  try {
    const keep = base.kind !== 'fresh' || startBlock > 0;
    const given = options.destinationHandle;
    if (given)
      await prepareDestination(given, destination, destinationKind, sizeBytes, src.stats, {
        keep,
        private: !options.keepMode,
      });
    const dst = given ?? (await openDestination(destination, destinationKind, sizeBytes, src.stats, { keep }));
    const writer = new GuardedWriter(dst, destination, options.undo ?? null);
    try {
      const checkpoint = async (): Promise<void> => {
        await writer.flush();
        await failpoint('before-checkpoint');
        await ioCall('sync', destination, () => dst.datasync());
        await ledgerOut?.flush();
        await options.checkpoint?.save({ ...progress });
        lastCheckpoint = Date.now();
      };
      meter?.update(0, true);
      // Provider ranges already leave out what is a hole on both sides: no extent map needed.
      const data = src.stats.isFile() && !(base.kind === 'ledger' && base.ranges) ? await dataRanges(source) : null;
      const compareBuffer = base.kind === 'compare' ? Buffer.alloc(bufferSize) : null;
      for await (const piece of readPieces({
        handle: src.handle,
        path: source,
        sizeBytes,
        bufferSize,
        depth: readDepth,
        data,
        ranges: toRead,
      })) {
        const first = piece.offset / blockSize;
        if (first > progress.blocksDone) await carry(progress.blocksDone, first);
        const hashes = blockHashes(piece.data, blockSize);
        const count = hashes.length;
        let theirs: BigUint64Array | null = null;
        if (compareBuffer) {
          const view = compareBuffer.subarray(0, piece.data.length);
          const { bytesRead } = await ioCall('read', destination, () => dst.read(view, 0, view.length, piece.offset));
          view.fill(0, bytesRead);
          theirs = blockHashes(view, blockSize);
        }
        const oldHashes = old ? await (base as { ledger: LedgerReader }).ledger.hashes(first, count) : null;
        let runStart = -1;
        const flushRun = async (endIndex: number): Promise<void> => {
          if (runStart < 0) return;
          const from = runStart * blockSize;
          const to = Math.min(endIndex * blockSize, piece.data.length);
          await writer.write(piece.data.subarray(from, to), piece.offset + from);
          progress.bytesWritten += to - from;
          progress.changedBlocks += endIndex - runStart;
          if (keepWritten) extend(written, piece.offset + from, piece.offset + to);
          if (written.length > MAX_WRITTEN_RANGES) keepWritten = false;
          runStart = -1;
        };
        for (let index = 0; index < count; index++) {
          const block = first + index;
          const was = theirs ? (theirs[index] as bigint) : known(block, oldHashes, first);
          const start = index * blockSize;
          const end = Math.min(start + blockSize, piece.data.length);
          const write =
            was === null || (was === 'zero' ? !zeros.isZero(piece.data, start, end) : was !== hashes[index]);
          // eslint-disable-next-line max-depth -- nested too deep: to be split (issue 17)
          if (!write && was === 'zero' && base.kind === 'fresh') zeroBytesSkipped += end - start;
          // eslint-disable-next-line max-depth -- nested too deep: to be split (issue 17)
          if (write) {
            // eslint-disable-next-line max-depth -- nested too deep: to be split (issue 17)
            if (runStart < 0) runStart = index;
          } else {
            await flushRun(index);
          }
        }
        await flushRun(count);
        await emit(hashes);
        if (!piece.hole) progress.bytesRead += piece.data.length;
        progress.blocksDone = first + count;
        processed += piece.data.length;
        meter?.update(processed);
        if (options.checkpoint && Date.now() - lastCheckpoint >= options.checkpoint.everyMs) await checkpoint();
        if (!halfway && progress.blocksDone * 2 >= blockCount) {
          halfway = true;
          await failpoint('mid-copy');
        }
      }
      if (progress.blocksDone < blockCount) await carry(progress.blocksDone, blockCount);
      progress.blocksDone = blockCount;
      // One flush at the end. Flushing in the background while still reading was measured
      // slower: reads stall behind writeback on the same disk (docs/PERFORMANCE.md).
      await writer.flush();
      if (options.checkpoint) await failpoint('before-checkpoint');
      await ioCall('sync', destination, () => dst.datasync());
    } finally {
      if (!given) await dst.close().catch(() => undefined);
    }
  } finally {
    await src.handle.close().catch(() => undefined);
  }
  const checksum = ledgerOut
    ? ledgerChecksum((await ledgerOut.finish()).bodyChecksum)
    : ledgerChecksum(digest.digest());
  meter?.finish(processed);
  return {
    method,
    bytesRead: progress.bytesRead,
    bytesWritten: progress.bytesWritten,
    changedBlocks: progress.changedBlocks,
    zeroBytesSkipped,
    checksum,
    written: keepWritten ? written : null,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
