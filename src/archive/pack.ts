// Packs: the objects an archive store holds its blobs in (restic's and Proxmox's prior art). A
// chunk of 64 KiB as an object of its own would cost one put and one file per 64 KiB; a pack
// gathers blobs (each an object as codec.ts writes it, so each is compressed and sealed on its
// own) until it holds about 16 MiB, then ends with its own index and is put whole:
//
//   blob | blob | … | index (a pack-index object: each blob's kind, name, offset, length) | u32 length of the index
//
// A blob is fetched alone with a ranged get; the index is only read to resume a killed send,
// which lists its own packs (packs/<a-id>/…) and learns from their indexes what arrived.
import { QrvError, isQrvError } from '../core/errors.ts';
import { BufferPool } from '../core/buffer-pool.ts';
import { failpoint } from '../core/failpoints.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { constants } from 'node:buffer';
import { OBJECT_OVERHEAD, corrupt, decodeObject, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { packKey } from './layout.ts';

/** At most this many packs are being put at once. */
const UPLOADS = 4;
const TRAILER = 4;

export interface Location {
  /** the pack's key, e.g. "packs/a-0123456789ab/00000001" */
  pack: string;
  offset: number;
  length: number;
}

export interface PackEntry {
  kind: 'chunk' | 'segment';
  name: string;
  offset: number;
  length: number;
  /** a segment's: the packs its chunks are in */
  packs?: string[];
}

/** Puts at most UPLOADS objects at once; put() waits for a free slot; drain() for all, failing on the first error. */
class Uploads {
  private readonly running = new Set<Promise<void>>();
  private failed: unknown = null;

  constructor(private readonly store: ArchiveStore) {}

  async put(key: string, object: Buffer, onDone: () => void): Promise<void> {
    while (this.running.size >= UPLOADS) await Promise.race(this.running);
    if (this.failed) throw this.failed;
    const upload = (async () => {
      await this.store.put(key, object);
      onDone();
      await failpoint('mid-archive');
    })().then(
      () => void this.running.delete(upload),
      (error: unknown) => {
        this.running.delete(upload);
        this.failed ??= error;
      },
    );
    this.running.add(upload);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failed) throw this.failed;
  }
}

/** Room for the blobs added past packSize (one at most), and the index. */
const SLACK = 2 * 1024 * 1024;

/**
 * Gathers blobs into packs of one generation, numbered from `seq`, and puts each when it is full.
 * Blobs are copied into pack buffers that are used again once their put is done: a fresh 16 MiB
 * buffer for each pack cost more in page faults than the copying itself.
 */
export class PackWriter {
  private current: Buffer | null = null;
  private readonly pool: BufferPool;
  private entries: PackEntry[] = [];
  private size = 0;
  private readonly uploads: Uploads;

  constructor(
    private readonly store: ArchiveStore,
    private readonly key: ArchiveKey | null,
    private readonly generation: string,
    private seq: number,
    private readonly options: { packSize: number; onPut: (bytes: number) => void },
  ) {
    this.uploads = new Uploads(store);
    this.pool = new BufferPool(options.packSize + SLACK, UPLOADS + 1);
  }

  /** Copies `object` to the end of the current pack, which grows when it has no room. */
  private append(object: Buffer): void {
    this.current ??= this.pool.take();
    if (this.size + object.length > this.current.length) {
      const larger = Buffer.allocUnsafeSlow((this.size + object.length) * 2);
      this.current.copy(larger, 0, 0, this.size);
      this.current = larger;
    }
    object.copy(this.current, this.size);
    this.size += object.length;
  }

  /** Adds a blob and says where it will be; the pack it is in is put once full (or by finish()). */
  async add(entry: Omit<PackEntry, 'offset' | 'length'>, object: Buffer): Promise<Location> {
    const location = { pack: packKey(this.generation, this.seq), offset: this.size, length: object.length };
    this.append(object);
    this.entries.push({ ...entry, offset: location.offset, length: location.length });
    if (this.size >= this.options.packSize) await this.seal();
    return location;
  }

  private async seal(): Promise<void> {
    if (this.entries.length === 0) return;
    const key = packKey(this.generation, this.seq);
    const index = Buffer.from(JSON.stringify({ entries: this.entries }));
    const indexObject = await encodeObject('pack-index', key, index, this.key);
    const trailer = Buffer.alloc(TRAILER);
    trailer.writeUInt32BE(indexObject.length);
    this.append(indexObject);
    this.append(trailer);
    const buffer = this.current!;
    const pack = buffer.subarray(0, this.size);
    this.current = null;
    this.entries = [];
    this.size = 0;
    this.seq++;
    await this.uploads.put(key, pack, () => {
      this.options.onPut(pack.length);
      this.pool.give(buffer);
    });
  }

  /** Puts the last pack and waits for every put; throws the first that failed. */
  async finish(): Promise<void> {
    await this.seal();
    await this.uploads.drain();
  }

  /** Waits for the puts under way, whatever becomes of them: none is left running. */
  async abandon(): Promise<void> {
    await this.uploads.drain().catch(() => undefined);
  }
}

const PACK_KEY = /^packs\/a-[0-9a-f]{12}\/[0-9]{8}$/;

export const isPackKey = (key: unknown): key is string => typeof key === 'string' && PACK_KEY.test(key);

function saneEntry(e: PackEntry, end: number): boolean {
  return (
    (e.kind === 'chunk' || e.kind === 'segment') &&
    /^[0-9a-f]{64}$/.test(e.name) &&
    Number.isSafeInteger(e.offset) &&
    Number.isSafeInteger(e.length) &&
    e.offset >= 0 &&
    e.length > 0 &&
    e.offset + e.length <= end &&
    (e.packs === undefined || (Array.isArray(e.packs) && e.packs.every(isPackKey)))
  );
}

/** The index at the end of the pack `key` of `size` bytes. */
export async function readPackIndex(
  store: ArchiveStore,
  key: string,
  size: number,
  sealKey: ArchiveKey | null,
): Promise<PackEntry[]> {
  const what = `the index of ${key}`;
  if (size < TRAILER) throw corrupt(what, 'the pack is too short');
  const length = (await store.getRange(key, size - TRAILER, TRAILER)).readUInt32BE(0);
  if (length > size - TRAILER) throw corrupt(what, 'its length is more than the pack');
  if (length > constants.MAX_STRING_LENGTH + OBJECT_OVERHEAD) throw corrupt(what, `it claims ${length} bytes`);
  const object = await store.getRange(key, size - TRAILER - length, length);
  const text = (await decodeObject('pack-index', key, object, sealKey, what)).toString('utf8');
  let entries: PackEntry[];
  try {
    entries = (JSON.parse(text) as { entries: PackEntry[] }).entries;
  } catch {
    throw corrupt(what, 'it is not JSON');
  }
  if (!Array.isArray(entries) || !entries.every((e) => saneEntry(e, size - TRAILER - length)))
    throw corrupt(what, 'its entries are not what qrv writes');
  return entries;
}

/** The bytes at `location`, all of them: a pack that ends first is damaged. */
export async function fetchRange(store: ArchiveStore, location: Location, what: string): Promise<Buffer> {
  const bytes = await store.getRange(location.pack, location.offset, location.length);
  if (bytes.length !== location.length)
    throw corrupt(what, `${location.pack} ends before byte ${location.offset + location.length}`);
  return bytes;
}

/** A store error that means the data is not there or not whole (as opposed to a store that cannot be reached). */
export function isDataLoss(error: unknown): boolean {
  return isQrvError(error) && (error.code === 'archive-corrupt' || error.code === 'store-object-missing');
}

export function packSequence(key: string): number {
  if (!isPackKey(key)) throw new QrvError('bug', 'internal', `not a pack key: ${key}`);
  return Number(key.slice(key.lastIndexOf('/') + 1));
}
