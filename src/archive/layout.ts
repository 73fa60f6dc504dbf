// Where things are in an archive store:
//
//   qrv-store                      what the store is (format, version, chunk size), plain JSON
//   chunks/<2 hex>/<64 hex>        chunks, named by their hash (codec.ts)
//   generations/<volume>/<a-id>    one manifest per generation, written last (manifest.ts)
import { QrvError } from '../core/errors.ts';
import type { ArchiveStore } from '../stores/store.ts';

export const STORE_FILE = 'qrv-store';
export const CHUNKS = 'chunks/';
export const GENERATIONS = 'generations/';
/** The size of a chunk: 4 MiB, as Proxmox Backup Server's fixed-size index of block devices uses. */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export const chunkKey = (name: string): string => `${CHUNKS}${name.slice(0, 2)}/${name}`;
export const manifestKey = (volume: string, id: string): string => `${GENERATIONS}${volume}/${id}`;

/** The names of the chunks the store holds. */
export async function storedChunks(store: ArchiveStore): Promise<Set<string>> {
  const names = new Set<string>();
  for (const object of await store.list(CHUNKS)) names.add(object.key.slice(object.key.lastIndexOf('/') + 1));
  return names;
}

export interface StoreHeader {
  format: 'qrv-archive-store';
  version: 1;
  chunkSize: number;
  createdAt: string;
}

/** Reads the store's header, writing one first when the store is empty and `create`. */
export async function storeHeader(store: ArchiveStore, create: boolean, now: Date): Promise<StoreHeader> {
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
      version: 1,
      chunkSize: DEFAULT_CHUNK_SIZE,
      createdAt: now.toISOString(),
    };
    await store.put(STORE_FILE, Buffer.from(`${JSON.stringify(header, null, 2)}\n`));
    await store.flush();
    return header;
  }
  let header: StoreHeader;
  try {
    header = JSON.parse((await store.get(STORE_FILE)).toString('utf8')) as StoreHeader;
  } catch {
    throw new QrvError(
      'refused',
      'store-foreign',
      `${store.where}: its ${STORE_FILE} is not qrv's`,
      'check the location',
    );
  }
  if (header.format !== 'qrv-archive-store' || header.version !== 1 || !Number.isSafeInteger(header.chunkSize))
    throw new QrvError(
      'refused',
      'store-foreign',
      `${store.where} is an archive store of another format or version (${String(header.format)} ${String(header.version)})`,
      'use a newer qrv, or another store',
    );
  return header;
}
