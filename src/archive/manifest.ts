// A generation's manifest: what volume, which point in time, and for each segment of the image
// in order its name, where its blob is and which packs its chunks are in (null for a segment of
// zeros, never stored). It is written after every pack it names is in the store, so a generation
// exists whole or not at all. Its own SHA-256 is kept beside it inside the object; a sealed
// manifest is also authenticated (codec.ts). The packs each segment needs are in the manifest so
// that prune and a quick verify know every pack a generation uses without reading its segments.
import { DEFAULT_BLOCK_SIZE } from '../copy/replicate.ts';
import { constants } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../stores/store.ts';
import { OBJECT_OVERHEAD, corrupt, decodeObject, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { GENERATIONS, MAX_CHUNK_SIZE, MAX_SEGMENT_LIST, manifestKey } from './layout.ts';
import { isPackKey, type Location } from './pack.ts';

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

/** A segment in a manifest: its name, its blob's place (an index into `packs`), the packs of its chunks. */
export type SegmentEntry = [name: string, pack: number, offset: number, length: number, chunkPacks: number[]];

export interface Manifest {
  format: 'qrv-generation';
  version: 2;
  id: string;
  volume: string;
  sizeBytes: number;
  chunkSize: number;
  segmentSize: number;
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
  /** every pack the generation uses */
  packs: string[];
  segments: (SegmentEntry | null)[];
  stats: GenerationStats;
}

const NAME = /^[0-9a-f]{64}$/;
const ID = /^a-[0-9a-f]{12}$/;
const index = (n: unknown, below: number): boolean =>
  Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) < below;

function saneSegment(entry: unknown, packs: number): boolean {
  if (entry === null) return true;
  if (!Array.isArray(entry) || entry.length !== 5) return false;
  const [name, pack, offset, length, chunkPacks] = entry as unknown[];
  return (
    typeof name === 'string' &&
    NAME.test(name) &&
    index(pack, packs) &&
    index(offset, 2 ** 40) &&
    index(length, MAX_SEGMENT_LIST + OBJECT_OVERHEAD + 1) &&
    (length as number) > 0 &&
    Array.isArray(chunkPacks) &&
    chunkPacks.every((n) => index(n, packs))
  );
}

/** What a store could hand qrv that qrv never writes: another id's form, odd sizes, names that are not hashes. */
function sane(m: Manifest): boolean {
  return (
    ID.test(m.id) &&
    Number.isSafeInteger(m.sizeBytes) &&
    m.sizeBytes >= 0 &&
    Number.isSafeInteger(m.chunkSize) &&
    m.chunkSize > 0 &&
    m.chunkSize % DEFAULT_BLOCK_SIZE === 0 &&
    m.chunkSize <= MAX_CHUNK_SIZE &&
    Number.isSafeInteger(m.segmentSize) &&
    m.segmentSize % m.chunkSize === 0 &&
    m.segmentSize / m.chunkSize <= 1024 &&
    m.blockSize === DEFAULT_BLOCK_SIZE &&
    Array.isArray(m.packs) &&
    m.packs.every(isPackKey) &&
    Array.isArray(m.segments) &&
    m.segments.every((entry) => saneSegment(entry, m.packs.length)) &&
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

/** The SHA-256 of a manifest as written (its JSON, which a read gives back exactly). */
export const manifestDigest = (manifest: Manifest): string => sha256(JSON.stringify(manifest));

/**
 * Reads and checks a manifest: its checksum, its shape, and that it is the one its name says;
 * with `digest` (the catalog's, recorded when it was sent), that it is the very manifest sent —
 * which pins every segment and chunk name, so a store cannot hand back other data under the id.
 */
export async function readManifest(
  store: ArchiveStore,
  volume: string,
  id: string,
  key: ArchiveKey | null,
  digest?: string | null,
): Promise<Manifest> {
  const what = `the manifest of ${id}`;
  const object = await store.get(manifestKey(volume, id), MAX_MANIFEST_OBJECT);
  const text = (await decodeObject('manifest', id, object, key, what)).toString('utf8');
  let outer: { sha256?: unknown; manifest?: unknown };
  try {
    outer = JSON.parse(text) as typeof outer;
  } catch {
    throw corrupt(what, 'it is not JSON');
  }
  if (typeof outer.manifest !== 'string' || outer.sha256 !== sha256(outer.manifest))
    throw corrupt(what, 'its checksum does not match');
  if (digest && outer.sha256 !== digest)
    throw corrupt(what, `it is not the manifest sent (SHA-256 ${String(outer.sha256)}, not ${digest})`);
  const manifest = JSON.parse(outer.manifest) as Manifest;
  if (manifest.format !== 'qrv-generation' || manifest.id !== id || manifest.volume !== volume)
    throw corrupt(what, `it describes ${String(manifest.id)} of ${String(manifest.volume)}`);
  if (!sane(manifest)) throw corrupt(what, 'its sizes, names or places are not what qrv writes');
  if (manifest.segments.length !== Math.ceil(manifest.sizeBytes / manifest.segmentSize))
    throw corrupt(what, 'its segment list does not cover the image');
  return manifest;
}

/** Where segment `i`'s blob is, or null for a segment of zeros. */
export function segmentLocation(manifest: Manifest, i: number): Location | null {
  const entry = manifest.segments[i];
  return entry ? { pack: manifest.packs[entry[1]]!, offset: entry[2], length: entry[3] } : null;
}

/** How many chunks segment `i` has (the last may be short), and how long it is. */
export function segmentShape(manifest: Manifest, i: number): { chunks: number; length: number } {
  const length = Math.min(manifest.segmentSize, manifest.sizeBytes - i * manifest.segmentSize);
  return { chunks: Math.ceil(length / manifest.chunkSize), length };
}

/** Every pack the generation uses: its segments' blobs and their chunks. */
export function packsUsed(manifest: Manifest): Set<string> {
  const used = new Set<string>();
  for (const entry of manifest.segments) {
    if (!entry) continue;
    used.add(manifest.packs[entry[1]]!);
    for (const pack of entry[4]) used.add(manifest.packs[pack]!);
  }
  return used;
}

/** How many chunks the image has, zeros included. */
/** The largest manifest object qrv reads: the longest string its JSON can be, and its header and seal. */
const MAX_MANIFEST_OBJECT = constants.MAX_STRING_LENGTH + 1024;

export const chunkCount = (manifest: Manifest): number => Math.ceil(manifest.sizeBytes / manifest.chunkSize);

/** Reads a manifest with whichever of `keys` opens it (null: not sealed). */
async function readWithKeys(
  store: ArchiveStore,
  volume: string,
  id: string,
  keys: (ArchiveKey | null)[],
): Promise<Manifest> {
  let last: unknown = null;
  for (const key of keys.length ? keys : [null]) {
    try {
      return await readManifest(store, volume, id, key);
    } catch (error) {
      if ((error as { code?: string }).code !== 'archive-key') throw error;
      last = error;
    }
  }
  throw last;
}

/** Every manifest in the store, each read and checked with one of `keys`; those that cannot be read, with why. */
export async function storedManifests(
  store: ArchiveStore,
  keys: (ArchiveKey | null)[],
): Promise<{ found: Manifest[]; unreadable: string[] }> {
  const found: Manifest[] = [];
  const unreadable: string[] = [];
  for (const object of await store.list(GENERATIONS)) {
    const [, volume, id] = object.key.split('/');
    if (!volume || !id) continue;
    await readWithKeys(store, volume, id, keys).then(
      (m) => found.push(m),
      (error: unknown) =>
        unreadable.push(`${id} of ${volume}: ${error instanceof Error ? error.message : String(error)}`),
    );
  }
  return { found, unreadable };
}
