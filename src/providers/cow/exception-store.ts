// Reading a device-mapper snapshot's persistent exception store (the COW device of a classic LVM
// snapshot, or the COW store of a dm-provider snapshot): which chunks of the origin were written
// since the snapshot was taken. The kernel's format (drivers/md/dm-snap-persistent.c):
//
//   chunk 0        header: le32 magic 0x70416e53 ("SnAp"), le32 valid, le32 version (1),
//                  le32 chunk size in 512-byte sectors
//   chunk 1        metadata area 0: chunkBytes / 16 exceptions { le64 old_chunk, le64 new_chunk }
//   chunks 2..     the data chunks of area 0 (as many as it holds exceptions)
//   then           metadata area 1, its data chunks, and so on.
//
// old_chunk is the origin's chunk that was copied before being overwritten, new_chunk where its
// old data now lives in the store. The list ends at the first new_chunk of 0 (areas are zeroed
// before use). `valid` is 0 once the store overflowed and the kernel invalidated the snapshot.
// An exception is committed to disk before the origin write it protects completes, so what is
// read here covers every write that completed on the origin. (lvmsync reads the same format.)
import fs from 'node:fs/promises';
import { QrvError } from '../../core/errors.ts';
import { mergeRanges, type ByteRange } from '../../core/byte-range.ts';
import { allocateAlignedBuffers } from '../../copy/aligned-buffers.ts';

export const SNAP_MAGIC = 0x70416e53;
const SECTOR = 512;
const EXCEPTION_BYTES = 16;

export interface ExceptionStore {
  /** false once the store overflowed: the snapshot is invalid */
  valid: boolean;
  /** bytes per chunk */
  chunkBytes: number;
  /** the origin chunks that have an exception, sorted, unique */
  chunks: number[];
}

/** Parses a header chunk's first 16 bytes; null when it is not an exception store. */
export function parseHeader(header: Buffer): { valid: boolean; version: number; chunkBytes: number } | null {
  if (header.length < 16 || header.readUInt32LE(0) !== SNAP_MAGIC) return null;
  const chunkSectors = header.readUInt32LE(12);
  // dm takes a power of two of sectors (LVM: 4 KiB to 512 KiB); anything else is not a store.
  if (chunkSectors === 0 || (chunkSectors & (chunkSectors - 1)) !== 0 || chunkSectors > 1 << 20) return null;
  return { valid: header.readUInt32LE(4) !== 0, version: header.readUInt32LE(8), chunkBytes: chunkSectors * SECTOR };
}

/**
 * The origin chunks listed in one metadata area. `done` is true when the area ended the list
 * (a zero new_chunk); otherwise the next area must be read too.
 */
export function parseArea(area: Buffer, into: number[]): { done: boolean } {
  for (let offset = 0; offset + EXCEPTION_BYTES <= area.length; offset += EXCEPTION_BYTES) {
    const newChunk = area.readBigUInt64LE(offset + 8);
    if (newChunk === 0n) return { done: true };
    into.push(Number(area.readBigUInt64LE(offset)));
  }
  return { done: false };
}

/**
 * Reads the exception store on `device` (a block device or a file). The device is read with
 * O_DIRECT where it can be, so that no page cached by an earlier read hides the kernel's latest
 * commits.
 */
export async function readExceptionStore(device: string): Promise<ExceptionStore> {
  const handle = await openDirect(device);
  try {
    const [first] = allocateAlignedBuffers(1, 4096) as [Buffer];
    await readFully(handle, first, 0);
    const header = parseHeader(first);
    if (!header)
      throw new QrvError(
        'io',
        'not-an-exception-store',
        `${device} holds no snapshot exception store (no "SnAp" header)`,
        'check that it is the COW device of a dm snapshot',
      );
    if (header.version !== 1)
      throw new QrvError(
        'io',
        'not-an-exception-store',
        `${device}: exception store version ${header.version} is not known`,
        "qrv reads version 1 (the kernel's persistent store)",
      );
    const chunks: number[] = [];
    if (header.valid) {
      const [area] = allocateAlignedBuffers(1, header.chunkBytes) as [Buffer];
      const perArea = header.chunkBytes / EXCEPTION_BYTES;
      const { size } = await handle.stat();
      const deviceBytes = size > 0 ? size : Number.MAX_SAFE_INTEGER; // block devices stat as 0
      for (let index = 0; ; index++) {
        const position = (1 + index * (perArea + 1)) * header.chunkBytes;
        if (position + header.chunkBytes > deviceBytes) break;
        const read = await readFully(handle, area, position);
        if (read < area.length) break;
        if (parseArea(area, chunks).done) break;
      }
    }
    return { valid: header.valid, chunkBytes: header.chunkBytes, chunks: [...new Set(chunks)].sort((a, b) => a - b) };
  } finally {
    await handle.close();
  }
}

/**
 * What changed between two snapshots of one origin, from their exception stores (`devices`): the
 * older one lists every origin chunk written since it was taken, which covers every difference
 * to the newer; both are read and united, so their order does not matter. Byte ranges clipped to
 * `sizeBytes`, merged; null when a store is invalid (it overflowed).
 */
export async function unitedStoreRanges(devices: string[], sizeBytes: number): Promise<ByteRange[] | null> {
  const ranges: ByteRange[] = [];
  for (const device of devices) {
    const store = await readExceptionStore(device);
    if (!store.valid) return null;
    ranges.push(...chunkRanges(store.chunks, store.chunkBytes, sizeBytes));
  }
  return mergeRanges(ranges);
}

/** The chunks as merged byte ranges, clipped to [0, sizeBytes). */
export function chunkRanges(chunks: number[], chunkBytes: number, sizeBytes: number): ByteRange[] {
  return mergeRanges(
    chunks.map((chunk) => ({ start: chunk * chunkBytes, end: Math.min(sizeBytes, (chunk + 1) * chunkBytes) })),
  );
}

async function openDirect(device: string): Promise<fs.FileHandle> {
  const direct = (fs.constants as Record<string, number>).O_DIRECT;
  try {
    if (direct) return await fs.open(device, fs.constants.O_RDONLY | direct);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw cannotRead(device, error);
    // tmpfs and some filesystems refuse O_DIRECT: their page cache is the only copy anyway
  }
  return fs.open(device, 'r').catch((error: unknown) => {
    throw cannotRead(device, error);
  });
}

function cannotRead(device: string, error: unknown): QrvError {
  return new QrvError(
    'io',
    'cow-unreadable',
    `cannot read the exception store ${device} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    'run qrv as root; check that the snapshot is active',
  );
}

async function readFully(handle: fs.FileHandle, buffer: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  if (done < buffer.length) buffer.fill(0, done);
  return done;
}
