// Where things are in an archive store:
//
//   qrv-store                      what the store is (format, version, sizes), plain JSON
//   packs/<a-id>/<8 digits>        packs of blobs (chunks and segment lists), written by the
//                                  generation <a-id> in that order, each ending in its own index (pack.ts)
//   generations/<volume>/<a-id>    one manifest per generation, written last (manifest.ts)
//   locks/<id>                     who is using the store (store-lock.ts)
//
// An image is cut into chunks of 64 KiB (the copy engine's block, so that a changed block costs
// one chunk) and the chunks into segments of 4 MiB; a segment's blob lists where its chunks are,
// and the manifest lists where each segment's blob is. A generation sends only the chunks and
// segment blobs that differ from the previous generation's at the same place (send.ts).
import { QrvError } from '../core/errors.ts';
import type { ArchiveStore } from '../stores/store.ts';

export const STORE_FILE = 'qrv-store';
export const PACKS = 'packs/';
export const GENERATIONS = 'generations/';
/** A chunk: 64 KiB, the copy engine's block (DEFAULT_BLOCK_SIZE). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** A segment: 4 MiB of the image, 64 chunks, listed by one blob. */
export const DEFAULT_SEGMENT_SIZE = 4 * 1024 * 1024;
/** A pack is put once it holds this much: few objects and requests, and a small loss when a put fails. */
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/** The largest chunk a store's header or a manifest may name: what a hostile store says is not believed beyond it. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** The largest segment list: 1,024 chunks' names and places are about 110 KiB of JSON. */
export const MAX_SEGMENT_LIST = 1024 * 1024;

export const packKey = (generation: string, seq: number): string =>
  `${PACKS}${generation}/${String(seq).padStart(8, '0')}`;
export const manifestKey = (volume: string, id: string): string => `${GENERATIONS}${volume}/${id}`;

export interface StoreHeader {
  format: 'qrv-archive-store';
  version: 2;
  chunkSize: number;
  segmentSize: number;
  packSize: number;
  createdAt: string;
}

function usable(header: StoreHeader): boolean {
  const { chunkSize, segmentSize, packSize } = header;
  return (
    [chunkSize, segmentSize, packSize].every((n) => Number.isSafeInteger(n) && n > 0) &&
    chunkSize % 4096 === 0 &&
    chunkSize <= MAX_CHUNK_SIZE &&
    segmentSize % chunkSize === 0 &&
    segmentSize / chunkSize <= 1024 &&
    packSize <= 1024 * 1024 * 1024
  );
}

/** Reads the store's header, writing one first when the store is empty and `create` (with its pack size). */
export async function storeHeader(
  store: ArchiveStore,
  create: { packSize?: number } | null,
  now: Date,
): Promise<StoreHeader> {
  const size = await store.size(STORE_FILE);
  if (size === null) {
    if (!create)
      throw new QrvError(
        'refused',
        'store-foreign',
        `${store.where} is not a qrv archive store (no ${STORE_FILE} in it)`,
        'add it with `qrv store add`, which makes it one',
      );
    const others = await store.list('');
    if (others.length)
      throw new QrvError(
        'refused',
        'store-foreign',
        `${store.where} holds ${others.length} objects and is not a qrv archive store`,
        'give an empty folder, bucket prefix or server folder',
      );
    const header: StoreHeader = {
      format: 'qrv-archive-store',
      version: 2,
      chunkSize: DEFAULT_CHUNK_SIZE,
      segmentSize: DEFAULT_SEGMENT_SIZE,
      packSize: create.packSize ?? DEFAULT_PACK_SIZE,
      createdAt: now.toISOString(),
    };
    await store.put(STORE_FILE, Buffer.from(`${JSON.stringify(header, null, 2)}\n`));
    await store.flush();
    return header;
  }
  let header: StoreHeader;
  try {
    header = JSON.parse((await store.get(STORE_FILE, 64 * 1024)).toString('utf8')) as StoreHeader;
  } catch {
    throw new QrvError(
      'refused',
      'store-foreign',
      `${store.where}: its ${STORE_FILE} is not qrv's`,
      'check the location',
    );
  }
  if (header.format !== 'qrv-archive-store' || header.version !== 2 || !usable(header))
    throw new QrvError(
      'refused',
      'store-foreign',
      `${store.where} is an archive store of another format or version (${String(header.format)} ${String(header.version)})`,
      'use a newer qrv, or another store',
    );
  return header;
}
