// The copy engine: brings a destination (image file or block device) to hold exactly the source snapshot, block for
// block, writing only blocks that differ from what the destination is known to hold. One engine serves every way of
// knowing:
//
//   fresh    the destination was just emptied (a file of holes) or its content is unknown (a device): every
//            non-zero block is written (every block, on a device). Method "full".
//   compare  the destination holds an older copy but nothing records what: each block is read from both sides and
//            written where they differ. Method "full" (a full compare).
//   ledger   the QRV's hash ledger records the hash of every block it holds. Without provider ranges, the snapshot
//            is read once and blocks whose hash differs are written (method "ledger"); with provider ranges ("these
//            bytes may have changed"), only those ranges are read and the other blocks' hashes are carried over
//            (method "provider").
//   differs  a write-back (qrv recover): the destination holds what the source's own ledger describes except in the
//            given ranges (found by hashing the destination, or from the provider); only those are read and all of
//            them written, the ledger's hashes carried over for the rest.
//
// Every block read is hashed (xxh64); the hashes become the new ledger and the copy's checksum (docs/architecture.md,
// "Ledger"). Progress is checkpointed at bounded intervals so a killed copy resumes where it stopped (F9). Memory is
// bounded: depth × buffer plus two ledger windows. A --throttle keeps what is read at or below a rate.
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { failpoint } from '../core/failpoints.ts';
import { ProgressMeter, type Phase, type Reporter } from '../core/events.ts';
import {
  ImageChecksum,
  blockHashes,
  ledgerChecksum,
  type LedgerHeader,
  type LedgerReader,
  type LedgerWriter,
} from '../ledger/ledger.ts';
import { readPieces, type Piece } from './chunk-reader.ts';
import { dataRanges } from '../system/extent-map.ts';
import { type ByteRange } from '../core/byte-range.ts';
import type { RateLimit } from '../core/rate.ts';
import { openDestination, openSource, prepareDestination, type DestinationKind } from './endpoints.ts';
import { GuardedWriter } from './guarded-writer.ts';
import { ioCall } from '../core/io-error.ts';
import type { UndoJournal } from './undo-journal.ts';
import { ZeroDetector } from './zero-runs.ts';
import { blockAligned, extend } from './block-ranges.ts';
import { checkSize, positiveInteger } from './copy-checks.ts';

export const DEFAULT_BLOCK_SIZE = 64 * 1024;
/**
 * Bytes per read. 1 MiB measured best end to end on the reference machine: 4 MiB buffers were ≈ 25 % slower on a
 * full volume (the data no longer stays in the CPU cache between the read and the write), 256 KiB paid more per-call
 * overhead (docs/PERFORMANCE.md).
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
  | { kind: 'ledger'; ledger: LedgerReader; ranges: ByteRange[] | null }
  | {
      kind: 'differs';
      ledger: LedgerReader;
      ranges: ByteRange[];
      method: 'ledger' | 'provider';
      /** checks the hashes of blocks read from `first` on before any of them is written (throws) */
      check: (first: number, hashes: BigUint64Array) => Promise<void>;
    };

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
  /** Keeps the bytes read from the source (and, comparing, from the destination) at or below a rate. */
  rate?: RateLimit | null;
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

/** Makes `destination` hold the first `sizeBytes` of `source`, durable (fdatasync), its ledger renamed into place. */
export async function replicate(options: ReplicateOptions): Promise<CopyResult> {
  const run = new Replication(options);
  const src = await openSource(options.source, options.sizeBytes);
  try {
    await run.through(src);
  } finally {
    await src.handle.close().catch(() => undefined);
  }
  return run.result();
}

/** What the destination held at a block before the copy: a hash, "zero" (reads as zeros), or null (unknown). */
type Held = bigint | 'zero' | null;

/** One replicate() call: its settings, checked and derived, and what it did so far. */
class Replication {
  private readonly started = process.hrtime.bigint();
  private readonly base: Base;
  private readonly blockSize: number;
  private readonly bufferSize: number;
  private readonly readDepth: number;
  private readonly ledgerOut: LedgerWriter | null;
  private readonly startBlock: number;
  private readonly blockCount: number;
  /** the old ledger's header, when the destination's content is known from it */
  private readonly old: LedgerHeader | null;
  private readonly method: CopyMethod;
  /** which bytes to read */
  private readonly toRead: ByteRange[];
  private readonly meter: ProgressMeter | undefined;
  private readonly zeros: ZeroDetector;
  private readonly checksum = new ImageChecksum();
  private readonly written: ByteRange[] = [];
  private keepWritten = true;
  private readonly progress: Progress;
  private zeroBytesSkipped = 0;
  private processed = 0;
  private lastCheckpoint = Date.now();
  private halfway = false;

  constructor(private readonly options: ReplicateOptions) {
    const { sizeBytes, base } = options;
    checkSize(sizeBytes);
    this.base = base;
    this.blockSize = positiveInteger('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE);
    const requested = positiveInteger('bufferSize', options.bufferSize ?? DEFAULT_BUFFER_SIZE);
    this.bufferSize = Math.ceil(requested / this.blockSize) * this.blockSize;
    this.readDepth = positiveInteger(
      'readDepth',
      options.readDepth ?? (base.kind === 'ledger' || base.kind === 'differs' ? UPDATE_READ_DEPTH : DEFAULT_READ_DEPTH),
    );
    this.ledgerOut = options.ledgerOut ?? null;
    this.startBlock = options.startBlock ?? 0;
    if (this.startBlock > 0 && !this.ledgerOut)
      throw new Error('a copy resumes only with a ledger that holds the hashes of what was done');
    this.blockCount = Math.ceil(sizeBytes / this.blockSize);
    this.old = base.kind === 'ledger' || base.kind === 'differs' ? base.ledger.header : null;
    this.method =
      base.kind === 'differs' ? base.method : base.kind !== 'ledger' ? 'full' : base.ranges ? 'provider' : 'ledger';
    this.toRead = this.rangesToRead();
    const total = this.toRead.reduce((sum, r) => sum + r.end - r.start, 0);
    this.meter = options.reporter ? new ProgressMeter(options.reporter, options.phase ?? 'copy', total) : undefined;
    this.zeros = new ZeroDetector(this.blockSize);
    this.progress = { blocksDone: this.startBlock, bytesRead: 0, bytesWritten: 0, changedBlocks: 0 };
  }

  /**
   * Provider ranges say what may differ; the blocks around a change of size differ in length from
   * the ledger's and are always read. Otherwise everything from the first block not done.
   */
  private rangesToRead(): ByteRange[] {
    const { sizeBytes } = this.options;
    const from = this.startBlock * this.blockSize;
    const ranges = this.base.kind === 'ledger' || this.base.kind === 'differs' ? this.base.ranges : null;
    if (!ranges) return [{ start: from, end: sizeBytes }];
    const old = this.old;
    const extra =
      old && old.sizeBytes !== sizeBytes ? [{ start: Math.min(old.sizeBytes, sizeBytes), end: sizeBytes }] : [];
    return blockAligned([...ranges, ...extra], this.blockSize, from, sizeBytes);
  }

  private lengthOf(block: number): number {
    return Math.min(this.blockSize, this.options.sizeBytes - block * this.blockSize);
  }

  /** What the destination holds at a block before the copy, as far as known without reading it. */
  private known(block: number, oldHashes: BigUint64Array | null, first: number): Held {
    if (this.base.kind === 'fresh') return this.options.destinationKind === 'file' ? 'zero' : null;
    const old = this.old;
    if (this.base.kind === 'differs') return null; // only what differs is read: all of it is written
    if (!old) return null;
    const start = block * this.blockSize;
    if (block < old.blockCount && Math.min(this.blockSize, old.sizeBytes - start) === this.lengthOf(block))
      return (oldHashes as BigUint64Array)[block - first] as bigint;
    // A file grown by truncate reads as zeros past its old end; a device past it is unknown.
    return this.options.destinationKind === 'file' && start >= old.sizeBytes ? 'zero' : null;
  }

  /** The checksum is the xxh64 of the block hashes: the ledger computes it when there is one. */
  private async emit(hashes: BigUint64Array): Promise<void> {
    if (this.ledgerOut) await this.ledgerOut.append(hashes);
    else this.checksum.add(hashes);
  }

  /** Carries the old ledger's hashes of unchanged blocks [from, to) over to the new ledger. */
  private async carry(from: number, to: number): Promise<void> {
    const { ledger } = this.base as { ledger: LedgerReader };
    for (let block = from; block < to; block += LEDGER_WINDOW)
      await this.emit(await ledger.hashes(block, Math.min(LEDGER_WINDOW, to - block)));
  }

  /** Opens (or prepares the given) destination and copies through it. */
  async through(src: { handle: FileHandle; stats: Stats }): Promise<void> {
    const { destination, destinationKind, sizeBytes } = this.options;
    const keep = this.base.kind !== 'fresh' || this.startBlock > 0;
    const given = this.options.destinationHandle;
    if (given)
      await prepareDestination(given, destination, {
        kind: destinationKind,
        sizeBytes,
        source: src.stats,
        keep,
        private: !this.options.keepMode,
      });
    const dst = given ?? (await openDestination(destination, destinationKind, sizeBytes, src.stats, { keep }));
    try {
      await this.copyAll(src, dst, new GuardedWriter(dst, destination, this.options.undo ?? null));
    } finally {
      if (!given) await dst.close().catch(() => undefined);
    }
  }

  private async copyAll(src: { handle: FileHandle; stats: Stats }, dst: FileHandle, writer: GuardedWriter) {
    const { source, sizeBytes, destination } = this.options;
    this.meter?.update(0, true);
    // Provider ranges already leave out what is a hole on both sides: no extent map needed.
    const withRanges = (this.base.kind === 'ledger' && this.base.ranges) || this.base.kind === 'differs';
    const data = src.stats.isFile() && !withRanges ? await dataRanges(source) : null;
    const compareBuffer = this.base.kind === 'compare' ? Buffer.alloc(this.bufferSize) : null;
    const pieces = readPieces({
      handle: src.handle,
      path: source,
      sizeBytes,
      bufferSize: this.bufferSize,
      depth: this.readDepth,
      data,
      ranges: this.toRead,
    });
    for await (const piece of pieces) {
      await this.copyPiece(piece, dst, writer, compareBuffer);
      const { checkpoint, rate } = this.options;
      if (rate) await rate.take((piece.hole ? 0 : piece.data.length) + (compareBuffer ? piece.data.length : 0));
      if (checkpoint && Date.now() - this.lastCheckpoint >= checkpoint.everyMs) await this.checkpoint(dst, writer);
      if (!this.halfway && this.progress.blocksDone * 2 >= this.blockCount) {
        this.halfway = true;
        await failpoint('mid-copy');
      }
    }
    if (this.progress.blocksDone < this.blockCount) await this.carry(this.progress.blocksDone, this.blockCount);
    this.progress.blocksDone = this.blockCount;
    // One flush at the end: flushing while reading was slower (reads stall behind writeback; docs/PERFORMANCE.md).
    await writer.flush();
    if (this.options.checkpoint) await failpoint('before-checkpoint');
    await ioCall('sync', destination, () => dst.datasync());
  }

  /** Destination and ledger flushed, then the progress saved: a resume starts from here. */
  private async checkpoint(dst: FileHandle, writer: GuardedWriter): Promise<void> {
    const { destination } = this.options;
    await writer.flush();
    await failpoint('before-checkpoint');
    await ioCall('sync', destination, () => dst.datasync());
    await this.ledgerOut?.flush();
    await this.options.checkpoint?.save({ ...this.progress });
    this.lastCheckpoint = Date.now();
  }

  /** Hashes a piece, writes the blocks that differ from what the destination holds, records their hashes. */
  private async copyPiece(piece: Piece, dst: FileHandle, writer: GuardedWriter, compareBuffer: Buffer | null) {
    const first = piece.offset / this.blockSize;
    if (first > this.progress.blocksDone) await this.carry(this.progress.blocksDone, first);
    const hashes = blockHashes(piece.data, this.blockSize);
    if (this.base.kind === 'differs') await this.base.check(first, hashes);
    const theirs = compareBuffer ? await this.readTheirs(piece, dst, compareBuffer) : null;
    const oldHashes = this.base.kind === 'ledger' ? await this.base.ledger.hashes(first, hashes.length) : null;
    const held = (index: number): Held =>
      theirs ? (theirs[index] as bigint) : this.known(first + index, oldHashes, first);
    await this.writeChanged(piece, writer, hashes, held);
    await this.emit(hashes);
    if (!piece.hole) this.progress.bytesRead += piece.data.length;
    this.progress.blocksDone = first + hashes.length;
    this.processed += piece.data.length;
    this.meter?.update(this.processed);
  }

  /** A full compare: the hashes of what the destination holds where the piece goes. */
  private async readTheirs(piece: Piece, dst: FileHandle, compareBuffer: Buffer): Promise<BigUint64Array> {
    const view = compareBuffer.subarray(0, piece.data.length);
    const { destination } = this.options;
    const { bytesRead } = await ioCall('read', destination, () => dst.read(view, 0, view.length, piece.offset));
    view.fill(0, bytesRead);
    return blockHashes(view, this.blockSize);
  }

  /** Writes each run of blocks of `piece` that differ from what the destination holds, in one write. */
  private async writeChanged(
    piece: Piece,
    writer: GuardedWriter,
    hashes: BigUint64Array,
    held: (index: number) => Held,
  ): Promise<void> {
    let runStart = -1;
    for (let index = 0; index < hashes.length; index++) {
      const start = index * this.blockSize;
      const end = Math.min(start + this.blockSize, piece.data.length);
      const was = held(index);
      const write =
        was === null || (was === 'zero' ? !this.zeros.isZero(piece.data, start, end) : was !== hashes[index]);
      if (!write && was === 'zero' && this.base.kind === 'fresh') this.zeroBytesSkipped += end - start;
      if (write && runStart < 0) runStart = index;
      if (!write && runStart >= 0) {
        await this.writeRun(piece, writer, runStart, index);
        runStart = -1;
      }
    }
    if (runStart >= 0) await this.writeRun(piece, writer, runStart, hashes.length);
  }

  private async writeRun(piece: Piece, writer: GuardedWriter, fromIndex: number, toIndex: number): Promise<void> {
    const from = fromIndex * this.blockSize;
    const to = Math.min(toIndex * this.blockSize, piece.data.length);
    await writer.write(piece.data.subarray(from, to), piece.offset + from);
    this.progress.bytesWritten += to - from;
    this.progress.changedBlocks += toIndex - fromIndex;
    if (this.keepWritten) extend(this.written, piece.offset + from, piece.offset + to);
    if (this.written.length > MAX_WRITTEN_RANGES) this.keepWritten = false;
  }

  /** The ledger finished (or the checksum computed) and what was done. */
  async result(): Promise<CopyResult> {
    const checksum = this.ledgerOut
      ? ledgerChecksum((await this.ledgerOut.finish()).bodyChecksum)
      : this.checksum.value();
    this.meter?.finish(this.processed);
    return {
      method: this.method,
      bytesRead: this.progress.bytesRead,
      bytesWritten: this.progress.bytesWritten,
      changedBlocks: this.progress.changedBlocks,
      zeroBytesSkipped: this.zeroBytesSkipped,
      checksum,
      written: this.keepWritten ? this.written : null,
      seconds: Number(process.hrtime.bigint() - this.started) / 1e9,
    };
  }
}
