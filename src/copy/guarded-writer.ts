// Writes of the copy engine to its destination. Without an undo journal they go straight to the
// destination; with one (an update of a QRV that holds a point in time), they are gathered into
// batches of at most BATCH_BYTES, and before a batch is written the bytes it overwrites are saved
// in the journal and made durable (./undo-journal.ts). flush() before every fdatasync of the
// destination, so that what a checkpoint records as done is written.
import type { FileHandle } from 'node:fs/promises';
import { failpoint } from '../core/failpoints.ts';
import type { ByteRange } from '../core/byte-range.ts';
import { writeAll } from '../core/io-error.ts';
import type { UndoJournal } from './undo-journal.ts';

/** Bytes gathered before the journal is synced and the batch written (one fdatasync each). */
export const BATCH_BYTES = 8 * 1024 * 1024;

export class GuardedWriter {
  private pending: Array<{ data: Buffer; position: number }> = [];
  private pendingBytes = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly undo: UndoJournal | null,
  ) {}

  async write(data: Buffer, position: number): Promise<void> {
    if (!this.undo) return writeAll(this.handle, this.path, data, position);
    // The read buffers are reused: keep a copy until the batch is written.
    this.pending.push({ data: Buffer.from(data), position });
    this.pendingBytes += data.length;
    if (this.pendingBytes >= BATCH_BYTES) await this.flush();
  }

  /** Saves what the batch overwrites in the journal (synced), then writes the batch. */
  async flush(): Promise<void> {
    if (!this.undo || this.pending.length === 0) return;
    const ranges: ByteRange[] = this.pending.map((w) => ({ start: w.position, end: w.position + w.data.length }));
    await this.undo.save(this.handle, this.path, ranges);
    await failpoint('after-undo-save');
    for (const { data, position } of this.pending) await writeAll(this.handle, this.path, data, position);
    this.pending = [];
    this.pendingBytes = 0;
  }
}
