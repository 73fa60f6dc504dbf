// A generation's manifest: what volume, which point in time, and the name of each chunk of the
// image in order ("" for a chunk of zeros, which is never stored). It is written after every
// chunk it names is in the store, so a generation exists whole or not at all. Its own SHA-256 is
// kept beside it inside the object; a sealed manifest is also authenticated (codec.ts).
import { DEFAULT_BLOCK_SIZE } from '../copy/replicate.ts';
import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../stores/store.ts';
import { corrupt, decodeObject, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { manifestKey } from './layout.ts';

export interface GenerationStats {
  bytesRead: number;
  /** bytes of chunk objects put in the store (compressed, sealed) */
  bytesSent: number;
  /** bytes of chunks the store held already (content, before compression) */
  bytesDeduplicated: number;
  /** bytes of all-zero chunks, stored as nothing */
  bytesZero: number;
  chunksSent: number;
  chunksDeduplicated: number;
  chunksZero: number;
  seconds: number;
}

export interface Manifest {
  format: 'qrv-generation';
  version: 1;
  id: string;
  volume: string;
  sizeBytes: number;
  chunkSize: number;
  /** when the snapshot the data comes from was taken */
  pointInTime: string;
  createdAt: string;
  host: string;
  /** the snapshot or QRV it was archived from, and the snapshot behind that */
  sourceId: string;
  snapshotId: string;
  consistency: string;
  /** the image's checksum, as the copy engine computes it ("xxh64-blocks:…" over 64 KiB blocks) */
  checksum: string;
  blockSize: number;
  /** hex id of the key that sealed it, or null */
  keyId: string | null;
  chunks: string[];
  stats: GenerationStats;
}

const CHUNK_NAME = /^(?:[0-9a-f]{64})?$/;
const ID = /^a-[0-9a-f]{12}$/;

/** What a store could hand qrv that qrv never writes: another id's form, odd sizes, names that are not hashes. */
function sane(m: Manifest): boolean {
  return (
    ID.test(m.id) &&
    Number.isSafeInteger(m.sizeBytes) &&
    m.sizeBytes >= 0 &&
    Number.isSafeInteger(m.chunkSize) &&
    m.chunkSize > 0 &&
    m.chunkSize <= 64 * 1024 * 1024 &&
    m.blockSize === DEFAULT_BLOCK_SIZE &&
    Array.isArray(m.chunks) &&
    m.chunks.every((name) => typeof name === 'string' && CHUNK_NAME.test(name)) &&
    [m.pointInTime, m.createdAt].every((time) => typeof time === 'string' && !Number.isNaN(Date.parse(time))) &&
    typeof m.stats === 'object' &&
    m.stats !== null &&
    Object.values(m.stats).every((n) => typeof n === 'number' && n >= 0)
  );
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export async function writeManifest(store: ArchiveStore, manifest: Manifest, key: ArchiveKey | null): Promise<void> {
  const body = JSON.stringify(manifest);
  const text = JSON.stringify({ sha256: sha256(body), manifest: body });
  const object = await encodeObject('manifest', manifest.id, Buffer.from(text), key);
  await store.put(manifestKey(manifest.volume, manifest.id), object);
  await store.flush();
}

/** Reads and checks a manifest: its checksum, its shape, and that it is the one its name says. */
export async function readManifest(
  store: ArchiveStore,
  volume: string,
  id: string,
  key: ArchiveKey | null,
): Promise<Manifest> {
  const what = `the manifest of ${id}`;
  const object = await store.get(manifestKey(volume, id));
  const text = (await decodeObject('manifest', id, object, key, what)).toString('utf8');
  let outer: { sha256?: unknown; manifest?: unknown };
  try {
    outer = JSON.parse(text) as typeof outer;
  } catch {
    throw corrupt(what, 'it is not JSON');
  }
  if (typeof outer.manifest !== 'string' || outer.sha256 !== sha256(outer.manifest))
    throw corrupt(what, 'its checksum does not match');
  const manifest = JSON.parse(outer.manifest) as Manifest;
  if (manifest.format !== 'qrv-generation' || manifest.id !== id || manifest.volume !== volume)
    throw corrupt(what, `it describes ${String(manifest.id)} of ${String(manifest.volume)}`);
  if (!sane(manifest)) throw corrupt(what, 'its sizes or chunk names are not what qrv writes');
  if (manifest.chunks.length !== Math.ceil(manifest.sizeBytes / manifest.chunkSize))
    throw corrupt(what, 'its chunk list does not cover the image');
  return manifest;
}
