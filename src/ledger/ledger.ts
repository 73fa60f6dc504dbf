// Reading and writing the per-block hash ledger kept beside each QRV (the format, and why it is
// binary, is in format.ts). A ledger is written as `<path>.partial` and renamed into place once
// complete, so a ledger under its final name is always whole; a crashed writer's partial can be
// resumed from the hashes it had flushed.
import { Xxh64 } from '../core/xxh64.ts';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ioCall } from '../core/io-error.ts';
import {
  LEDGER_HEADER_BYTES,
  HASH_BYTES,
  PIECE_BYTES,
  PIECE_HASHES,
  fileBytes,
  toFileOrder,
  checkInput,
  encodeHeader,
  decodeHeader,
  LedgerError,
  type LedgerHeader,
  type LedgerHeaderInput,
} from './format.ts';
import { hashBody, openLedgerFile, readAt } from './ledger-file.ts';

export {
  ImageChecksum,
  LEDGER_HEADER_BYTES,
  LedgerError,
  blockHashes,
  ledgerChecksum,
  ledgerPathFor,
  type LedgerErrorReason,
  type LedgerHeader,
  type LedgerHeaderInput,
} from './format.ts';

/** A verified ledger, read through a window of at most 1 MiB of hashes. */
/** What a ledger read back must describe; each field given is checked against its header. */
export interface LedgerExpectation {
  snapshotId?: string;
  sizeBytes?: number;
  blockSize?: number;
  qrvId?: string;
}

export class LedgerReader {
  private readonly window: BigUint64Array;
  private readonly windowBytes: Uint8Array;
  private windowStart = 0;
  private windowCount = 0;
  /** calls run one at a time: they share the window */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    readonly header: LedgerHeader,
    private handle: FileHandle | null,
    buffer: ArrayBuffer,
  ) {
    this.window = new BigUint64Array(buffer);
    this.windowBytes = new Uint8Array(buffer);
  }

  /**
   * Opens and fully verifies a ledger: magic, version, header checksum, length, the caller's
   * expectations (reason 'mismatch'), then the body checksum, streamed in 1 MiB pieces.
   */
  static async open(path: string, expect: LedgerExpectation = {}): Promise<LedgerReader> {
    const handle = await openLedgerFile(path, 'r');
    try {
      const head = Buffer.alloc(LEDGER_HEADER_BYTES);
      const header = Object.freeze(decodeHeader(head, await readAt(handle, head, head.length, 0, path), path, true));
      const { size } = await handle.stat();
      const expected = fileBytes(header.blockCount);
      if (size < expected)
        throw new LedgerError(
          'truncated',
          `${path} has ${size} bytes; its ${header.blockCount} hashes need ${expected}`,
        );
      if (size > expected)
        throw new LedgerError(
          'unreadable',
          `${path} has ${size - expected} bytes after its ${header.blockCount} hashes`,
        );
      const differences = (['snapshotId', 'sizeBytes', 'blockSize', 'qrvId'] as const)
        .filter((field) => expect[field] !== undefined && expect[field] !== header[field])
        .map((field) => `${field} ${JSON.stringify(header[field])}, expected ${JSON.stringify(expect[field])}`);
      if (differences.length > 0)
        throw new LedgerError('mismatch', `${path} describes another image: ${differences.join('; ')}`);
      const buffer = new ArrayBuffer(Math.min(PIECE_BYTES, Math.max(HASH_BYTES, header.blockCount * HASH_BYTES)));
      const hasher = new Xxh64(0n);
      await hashBody(handle, header.blockCount, new Uint8Array(buffer), hasher, path);
      if (hasher.digest() !== header.bodyChecksum)
        throw new LedgerError('body-checksum', `${path}: the ledger's hashes do not match its body checksum`);
      return new LedgerReader(path, header, handle, buffer);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** Hashes of blocks [start, start+count), clipped to blockCount. */
  hashes(start: number, count: number): Promise<BigUint64Array> {
    const run = this.tail.then(() => this.read(start, count));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async read(start: number, count: number): Promise<BigUint64Array> {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(count) || count < 0)
      throw new RangeError(`invalid block range ${start}+${count}`);
    if (this.handle === null) throw new Error(`ledger ${this.path} is closed`);
    const end = Math.min(start + count, this.header.blockCount);
    const result = new BigUint64Array(Math.max(0, end - start));
    for (let at = start; at < end; ) {
      if (at < this.windowStart || at >= this.windowStart + this.windowCount) await this.load(this.handle, at);
      const take = Math.min(end, this.windowStart + this.windowCount) - at;
      result.set(this.window.subarray(at - this.windowStart, at - this.windowStart + take), at - start);
      at += take;
    }
    return result;
  }

  /** Fills the window from block `first` on (sequential readers then get the next blocks free). */
  private async load(handle: FileHandle, first: number): Promise<void> {
    this.windowCount = 0;
    const count = Math.min(this.window.length, this.header.blockCount - first);
    const length = count * HASH_BYTES;
    const got = await readAt(handle, this.windowBytes, length, fileBytes(first), this.path);
    if (got < length)
      throw new LedgerError('truncated', `${this.path} ends at byte ${fileBytes(first) + got}, inside its hashes`);
    toFileOrder(this.windowBytes, length);
    this.windowStart = first;
    this.windowCount = count;
  }

  async close(): Promise<void> {
    await this.tail;
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

/**
 * Writes a ledger block by block as a copy runs: hashes are buffered (1 MiB) and written to
 * `<path>.partial`; `flush()` makes them durable so a crashed copy can `resume()`; `finish()`
 * seals the header and renames the ledger into place.
 */
export class LedgerWriter {
  readonly partialPath: string;
  private readonly buffer = new BigUint64Array(PIECE_HASHES);
  private readonly bufferBytes = new Uint8Array(this.buffer.buffer);
  /** hashes waiting in the buffer */
  private buffered = 0;
  /** when set, an operation is running (an append that writes, a flush or a finish) */
  private busy = false;
  /** a write failed: the body checksum no longer matches the file, only close/discard remain */
  private broken = false;

  private constructor(
    readonly path: string,
    private readonly header: LedgerHeader,
    private handle: FileHandle | null,
    /** hashes already in the file */
    private written: number,
    private readonly hasher: Xxh64,
  ) {
    this.partialPath = `${path}.partial`;
  }

  /**
   * Starts a new ledger (replacing any earlier partial) as `<path>.partial`, mode 0600. The folder
   * must exist: beside a file QRV it is the QRV's own folder, which a copy never creates.
   */
  static async create(path: string, header: LedgerHeaderInput): Promise<LedgerWriter> {
    const full = checkInput(header);
    const partial = `${path}.partial`;
    await ioCall('write', partial, () => rm(partial, { force: true }));
    const handle = await ioCall('open', partial, () => open(partial, 'wx', 0o600));
    const writer = new LedgerWriter(path, full, handle, 0, new Xxh64(0n));
    try {
      await writer.writeAt(encodeHeader(full, false), 0);
    } catch (error) {
      await writer.discard().catch(() => undefined);
      throw error;
    }
    return writer;
  }

  /**
   * Reopens `<path>.partial` after a crash with its first `blocksDone` hashes (those a `flush()`
   * made durable): it is cut to exactly that many and the body checksum is rebuilt from them.
   */
  static async resume(path: string, header: LedgerHeaderInput, blocksDone: number): Promise<LedgerWriter> {
    const full = checkInput(header);
    if (!Number.isSafeInteger(blocksDone) || blocksDone < 0 || blocksDone > full.blockCount)
      throw new RangeError(`cannot resume at block ${blocksDone} of ${full.blockCount}`);
    const partial = `${path}.partial`;
    const handle = await openLedgerFile(partial, 'r+');
    const writer = new LedgerWriter(path, full, handle, blocksDone, new Xxh64(0n));
    try {
      const head = Buffer.alloc(LEDGER_HEADER_BYTES);
      const found = decodeHeader(head, await readAt(handle, head, head.length, 0, partial), partial, false);
      const differences = (['blockSize', 'sizeBytes', 'snapshotId', 'qrvId'] as const)
        .filter((field) => found[field] !== full[field])
        .map((field) => `${field} ${JSON.stringify(found[field])}, expected ${JSON.stringify(full[field])}`);
      if (differences.length > 0)
        throw new LedgerError('mismatch', `${partial} belongs to another copy: ${differences.join('; ')}`);
      const { size } = await handle.stat();
      if (size < fileBytes(blocksDone))
        throw new LedgerError(
          'truncated',
          `${partial} holds ${Math.floor((size - LEDGER_HEADER_BYTES) / HASH_BYTES)} hashes, fewer than the ${blocksDone} to resume from`,
        );
      await ioCall('truncate', partial, () => handle.truncate(fileBytes(blocksDone)));
      await hashBody(handle, blocksDone, writer.bufferBytes, writer.hasher, partial);
    } catch (error) {
      await writer.close().catch(() => undefined);
      throw error;
    }
    return writer;
  }

  /** Hashes appended so far, a resumed prefix included. */
  get blocksWritten(): number {
    return this.written + this.buffered;
  }

  /** Appends hashes in block order; returns a promise only when the full buffer is written out. */
  append(hashes: BigUint64Array): void | Promise<void> {
    this.usable();
    if (this.blocksWritten + hashes.length > this.header.blockCount) {
      throw new Error(
        `ledger ${this.path}: ${this.blocksWritten} + ${hashes.length} hashes exceed its ${this.header.blockCount} blocks`,
      );
    }
    if (this.buffered + hashes.length < this.buffer.length) {
      this.buffer.set(hashes, this.buffered);
      this.buffered += hashes.length;
      return;
    }
    return this.exclusive(async () => {
      for (let at = 0; at < hashes.length; ) {
        const take = Math.min(hashes.length - at, this.buffer.length - this.buffered);
        this.buffer.set(hashes.subarray(at, at + take), this.buffered);
        this.buffered += take;
        at += take;
        if (this.buffered === this.buffer.length) await this.writeBuffer();
      }
    });
  }

  /** Writes the buffered hashes and fdatasyncs: afterwards `blocksWritten` hashes survive a crash. */
  async flush(): Promise<void> {
    this.usable();
    await this.exclusive(async () => {
      await this.writeBuffer();
      await this.sync();
    });
  }

  /** Seals the header, makes the ledger durable and renames it over `path`; needs every block's hash. */
  async finish(): Promise<LedgerHeader> {
    this.usable();
    if (this.blocksWritten !== this.header.blockCount) {
      throw new Error(
        `ledger ${this.path} has ${this.blocksWritten} of its ${this.header.blockCount} hashes; finish() needs all of them`,
      );
    }
    return this.exclusive(async () => {
      await this.writeBuffer();
      const header: LedgerHeader = { ...this.header, bodyChecksum: this.hasher.digest() };
      await this.writeAt(encodeHeader(header, true), 0);
      await this.sync();
      await this.close();
      await ioCall('write', this.path, () => rename(this.partialPath, this.path));
      const folder = dirname(this.path);
      const dir = await ioCall('open', folder, () => open(folder, 'r'));
      try {
        await ioCall('sync', folder, () => dir.sync());
      } finally {
        await dir.close();
      }
      return header;
    });
  }

  /** Closes the file and keeps the partial for a later resume; buffered (unflushed) hashes are dropped. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle) await ioCall('close', this.partialPath, () => handle.close());
  }

  /** Closes and deletes the partial. */
  async discard(): Promise<void> {
    await this.close();
    await ioCall('write', this.partialPath, () => rm(this.partialPath, { force: true }));
  }

  private usable(): void {
    if (this.handle === null) throw new Error(`ledger writer for ${this.path} is closed`);
    if (this.busy) throw new Error(`ledger writer for ${this.path} is busy: await each append, flush and finish`);
    if (this.broken) throw new Error(`an earlier write of ${this.partialPath} failed: close or discard the writer`);
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.busy = true;
    try {
      return await work();
    } catch (error) {
      this.broken = true;
      throw error;
    } finally {
      this.busy = false;
    }
  }

  private async writeBuffer(): Promise<void> {
    if (this.buffered === 0) return;
    const length = this.buffered * HASH_BYTES;
    toFileOrder(this.bufferBytes, length);
    const bytes = this.bufferBytes.subarray(0, length);
    this.hasher.update(bytes);
    await this.writeAt(bytes, fileBytes(this.written));
    this.written += this.buffered;
    this.buffered = 0;
  }

  private async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    const handle = this.handle;
    if (handle === null) throw new Error(`ledger writer for ${this.path} is closed`);
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await ioCall('write', this.partialPath, () =>
        handle.write(bytes, done, bytes.length - done, position + done),
      );
      done += bytesWritten;
    }
  }

  private async sync(): Promise<void> {
    const handle = this.handle;
    if (handle) await ioCall('sync', this.partialPath, () => handle.datasync());
  }
}

/** Writes a whole ledger in one go (tests, small tools); leaves no partial behind on failure. */
export async function writeLedger(
  path: string,
  header: LedgerHeaderInput,
  hashes: BigUint64Array,
): Promise<LedgerHeader> {
  const writer = await LedgerWriter.create(path, header);
  try {
    await writer.append(hashes);
    return await writer.finish();
  } catch (error) {
    await writer.discard().catch(() => undefined);
    throw error;
  }
}
