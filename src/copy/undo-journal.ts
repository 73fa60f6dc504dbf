// The undo journal of a QRV update (F3, F9): before a batch of blocks of a QRV that holds a point
// in time is overwritten, their old bytes are appended to `<ledger>.undo` and fdatasync'ed. A
// killed or failed update can then be rolled back (`qrv doctor --fix`): the old bytes go back in
// reverse order, the file is cut to its old size and the old ledger (kept as a hard link,
// `<ledger>.before`) is renamed back, so the QRV is again exactly its previous point in time.
// The journal grows by the changed blocks only; it is removed once the new point in time is
// committed. Format: "QRVUNDO1", u32 header length, the JSON header; then records of
// u64 offset, u32 length, u32 zero, u64 xxh64 of the three and the data, then the data. A torn
// last record (killed while appending) is ignored: its batch was not written yet.
import { constants, type Stats } from 'node:fs';
import { link, lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { xxh64 } from '../core/xxh64.ts';
import { QrvError, errnoCode } from '../core/errors.ts';
import type { ByteRange } from '../core/byte-range.ts';
import { writeAll, ioCall } from '../core/io-error.ts';

const MAGIC = Buffer.from('QRVUNDO1');
const RECORD_HEAD = 24;

/** What the journal restores besides the blocks: the size, the ledger and the catalog row. */
export interface UndoHeader {
  qrvId: string;
  destination: string;
  destinationKind: 'file' | 'block';
  /** the file's size before the update (a device's never changes) */
  oldSize: number;
  /** the ledger of the previous point in time, and the hard link that keeps it */
  ledger: string;
  ledgerBackup: string | null;
  /** the QRV's catalog row as it was before the update */
  row: Record<string, unknown>;
}

export function undoPathFor(ledgerPath: string): string {
  return `${ledgerPath}.undo`;
}

/** Opens our own journal file: no symlink, a regular file with one link, owned by us. */
async function openOwn(path: string, flags: number): Promise<FileHandle> {
  const handle = await ioCall('open', path, () => open(path, flags | constants.O_NOFOLLOW, 0o600));
  const stats = await handle.stat();
  if (!stats.isFile() || stats.nlink !== 1 || (process.getuid && stats.uid !== process.getuid())) {
    await handle.close();
    throw new QrvError(
      'refused',
      'undo-journal-foreign',
      `${path} is not an undo journal qrv made (a link, not a plain file, or someone else's)`,
      'move it away, then run the command again',
    );
  }
  return handle;
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer | null> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return bytesRead === length ? buffer : null;
}

function recordHash(head: Buffer, data: Buffer): bigint {
  return xxh64(Buffer.concat([head.subarray(0, 16), data]));
}

interface JournalRecord {
  offset: number;
  length: number;
  /** where its data lies in the journal */
  at: number;
}

/** Reads a journal: its header, its whole records, and where the last whole record ends. */
export async function readJournal(
  path: string,
): Promise<{ header: UndoHeader; records: JournalRecord[]; end: number }> {
  const handle = await openOwn(path, constants.O_RDONLY);
  try {
    const start = await readExactly(handle, 12, 0);
    if (!start || !start.subarray(0, 8).equals(MAGIC))
      throw new QrvError(
        'io',
        'undo-journal-corrupt',
        `${path} is not a qrv undo journal`,
        'move it away; the QRV it belonged to must be copied again in full',
      );
    const json = await readExactly(handle, start.readUInt32LE(8), 12);
    if (!json)
      throw new QrvError(
        'io',
        'undo-journal-corrupt',
        `${path} has a truncated header`,
        'move it away; the QRV it belonged to must be copied again in full',
      );
    const header = JSON.parse(json.toString('utf8')) as UndoHeader;
    const records: JournalRecord[] = [];
    let at = 12 + json.length;
    for (;;) {
      const head = await readExactly(handle, RECORD_HEAD, at);
      if (!head) break;
      const length = head.readUInt32LE(8);
      const data = await readExactly(handle, length, at + RECORD_HEAD);
      if (!data || recordHash(head, data) !== head.readBigUInt64LE(16)) break;
      records.push({ offset: Number(head.readBigUInt64LE(0)), length, at: at + RECORD_HEAD });
      at += RECORD_HEAD + length;
    }
    return { header, records, end: at };
  } finally {
    await handle.close();
  }
}

export class UndoJournal {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private end: number,
  ) {}

  /**
   * Starts the journal of an update, or goes on with the one an interrupted update left (its
   * header keeps the point in time of before that update). Saves the tail a shrinking file loses.
   */
  static async start(path: string, header: UndoHeader, newSize: number): Promise<UndoJournal> {
    let journal: UndoJournal;
    if (await exists(path)) {
      const { end } = await readJournal(path);
      const handle = await openOwn(path, constants.O_RDWR);
      await ioCall('truncate', path, () => handle.truncate(end));
      journal = new UndoJournal(path, handle, end);
    } else {
      const backup = await keepLedger(header.ledger);
      const json = Buffer.from(JSON.stringify({ ...header, ledgerBackup: backup }));
      const head = Buffer.alloc(12);
      MAGIC.copy(head);
      head.writeUInt32LE(json.length, 8);
      const handle = await openOwn(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL);
      journal = new UndoJournal(path, handle, 0);
      await journal.append(Buffer.concat([head, json]));
    }
    if (header.destinationKind === 'file') await journal.saveTail(header.destination, newSize);
    return journal;
  }

  /** Appends the current bytes of `ranges` of the destination and makes them durable. */
  async save(destination: FileHandle, path: string, ranges: ByteRange[]): Promise<void> {
    const parts: Buffer[] = [];
    for (const { start, end } of ranges) {
      const data = Buffer.alloc(end - start);
      await ioCall('read', path, () => destination.read(data, 0, data.length, start));
      const head = Buffer.alloc(RECORD_HEAD);
      head.writeBigUInt64LE(BigInt(start), 0);
      head.writeUInt32LE(data.length, 8);
      head.writeBigUInt64LE(recordHash(head, data), 16);
      parts.push(head, data);
    }
    await this.append(Buffer.concat(parts));
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  /** Removes the journal and the old ledger it kept: the update was committed. */
  static async discard(path: string): Promise<void> {
    const { header } = await readJournal(path).catch(() => ({ header: null }));
    await ioCall('write', path, () => rm(path, { force: true }));
    if (header?.ledgerBackup)
      await ioCall('write', header.ledgerBackup, () => rm(header.ledgerBackup as string, { force: true }));
  }

  private async saveTail(destination: string, newSize: number): Promise<void> {
    const handle = await ioCall('open', destination, () =>
      open(destination, constants.O_RDONLY | constants.O_NOFOLLOW),
    ).catch(() => null);
    if (!handle) return; // nothing there yet: nothing to lose
    try {
      const { size } = await handle.stat();
      for (let start = newSize; start < size; start += 1 << 20)
        await this.save(handle, destination, [{ start, end: Math.min(size, start + (1 << 20)) }]);
    } finally {
      await handle.close();
    }
  }

  private async append(bytes: Buffer): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await ioCall('write', this.path, () =>
        this.handle.write(bytes, done, bytes.length - done, this.end + done),
      );
      done += bytesWritten;
    }
    this.end += bytes.length;
    await ioCall('sync', this.path, () => this.handle.datasync());
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/** Keeps the ledger of the previous point in time under a second name (a hard link: free). */
async function keepLedger(ledger: string): Promise<string | null> {
  const backup = `${ledger}.before`;
  await ioCall('write', backup, () => rm(backup, { force: true }));
  try {
    await link(ledger, backup);
    return backup;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Puts the destination back as the journal recorded it: the old bytes in reverse order (the
 * first record of a block is its oldest), the old size, the old ledger. Running it again after
 * a kill gives the same result. Returns the header (the catalog row to restore).
 */
export async function rollBack(path: string, expect: { qrvId: string; destination: string }): Promise<UndoHeader> {
  const { header, records } = await readJournal(path);
  if (header.qrvId !== expect.qrvId || header.destination !== expect.destination) {
    throw new QrvError(
      'refused',
      'undo-journal-mismatch',
      `${path} is the journal of QRV ${header.qrvId} at ${header.destination}, not of ${expect.qrvId} at ${expect.destination}`,
      'move it away; it does not belong to this QRV',
    );
  }
  const flags =
    header.destinationKind === 'file' ? constants.O_RDWR | constants.O_NOFOLLOW : constants.O_RDWR | constants.O_EXCL;
  const journal = await openOwn(path, constants.O_RDONLY);
  try {
    const dst = await ioCall('open', header.destination, () => open(header.destination, flags));
    try {
      const stats: Stats = await dst.stat();
      if (header.destinationKind === 'file' ? !stats.isFile() : !stats.isBlockDevice())
        throw new QrvError(
          'refused',
          'destination-kind',
          `${header.destination} is no longer the ${header.destinationKind} it was`,
          'check what replaced it',
        );
      for (const record of [...records].reverse()) {
        const data = Buffer.alloc(record.length);
        await ioCall('read', path, () => journal.read(data, 0, data.length, record.at));
        await writeAll(dst, header.destination, data, record.offset);
      }
      if (header.destinationKind === 'file')
        await ioCall('truncate', header.destination, () => dst.truncate(header.oldSize));
      await ioCall('sync', header.destination, () => dst.datasync());
    } finally {
      await dst.close();
    }
  } finally {
    await journal.close();
  }
  if (header.ledgerBackup && (await exists(header.ledgerBackup)))
    await ioCall('write', header.ledger, () => rename(header.ledgerBackup as string, header.ledger));
  await ioCall('write', `${header.ledger}.partial`, () => rm(`${header.ledger}.partial`, { force: true }));
  return header;
}
