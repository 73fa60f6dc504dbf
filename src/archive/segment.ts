// A segment: 4 MiB of the image, 64 chunks of 64 KiB. Its blob lists, in order, each chunk's
// name and where it is (null for a chunk of zeros, never stored). The segment is named by a hash
// of its chunks' names alone (an HMAC under the name key when sealed), so two generations whose
// segment at the same place holds the same data have the same segment name: the second reuses
// the first's blob without reading it (send.ts). A blob is checked against its name when read.
import { createHash, createHmac } from 'node:crypto';
import type { ArchiveStore } from '../stores/store.ts';
import { OBJECT_OVERHEAD, corrupt, decodeObject, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { MAX_CHUNK_SIZE } from './layout.ts';
import { fetchRange, isPackKey, type Location } from './pack.ts';

/** A chunk in a segment blob: its name, and where it is (an index into the blob's packs). */
export type ChunkRef = [name: string, pack: number, offset: number, length: number];

export interface SegmentBlob {
  packs: string[];
  chunks: (ChunkRef | null)[];
}

/** The name of a segment whose chunks have these names (null: a chunk of zeros). */
export function segmentName(names: (string | null)[], key: ArchiveKey | null): string {
  const hash = key ? createHmac('sha256', key.name) : createHash('sha256');
  hash.update('qrv-segment\n');
  for (const name of names) hash.update(`${name ?? ''}\n`);
  return hash.digest('hex');
}

/** The blob of a segment whose chunks are at `locations` (null: zeros). */
export function segmentBlob(names: (string | null)[], locations: (Location | null)[]): SegmentBlob {
  const packs: string[] = [];
  const chunks = locations.map((at, i): ChunkRef | null => {
    if (!at) return null;
    let pack = packs.indexOf(at.pack);
    if (pack < 0) pack = packs.push(at.pack) - 1;
    return [names[i]!, pack, at.offset, at.length];
  });
  return { packs, chunks };
}

export function encodeSegment(name: string, blob: SegmentBlob, key: ArchiveKey | null): Promise<Buffer> {
  return encodeObject('segment', name, Buffer.from(JSON.stringify(blob)), key);
}

function saneRef(ref: unknown, packs: number): boolean {
  if (ref === null) return true;
  if (!Array.isArray(ref) || ref.length !== 4) return false;
  const [name, pack, offset, length] = ref as unknown[];
  return (
    typeof name === 'string' &&
    /^[0-9a-f]{64}$/.test(name) &&
    [pack, offset, length].every((n) => Number.isSafeInteger(n) && (n as number) >= 0) &&
    (pack as number) < packs &&
    (length as number) > 0 &&
    (length as number) <= MAX_CHUNK_SIZE + OBJECT_OVERHEAD
  );
}

/** Fetches the blob of segment `name` at `location` and checks it: its shape, and that its chunks give its name. */
export async function fetchSegment(
  store: ArchiveStore,
  location: Location,
  name: string,
  options: { key: ArchiveKey | null; chunks: number },
): Promise<SegmentBlob> {
  const what = `segment ${name.slice(0, 16)}…`;
  const object = await fetchRange(store, location, what);
  const text = (await decodeObject('segment', name, object, options.key, what)).toString('utf8');
  let blob: SegmentBlob;
  try {
    blob = JSON.parse(text) as SegmentBlob;
  } catch {
    throw corrupt(what, 'it is not JSON');
  }
  if (
    !Array.isArray(blob.packs) ||
    !blob.packs.every(isPackKey) ||
    !Array.isArray(blob.chunks) ||
    blob.chunks.length !== options.chunks ||
    !blob.chunks.every((ref) => saneRef(ref, blob.packs.length))
  )
    throw corrupt(what, 'it is not what qrv writes');
  if (
    segmentName(
      blob.chunks.map((ref) => ref?.[0] ?? null),
      options.key,
    ) !== name
  )
    throw corrupt(what, 'its chunks do not give its name');
  return blob;
}

/** Where a chunk of a segment blob is. */
export function chunkLocation(blob: SegmentBlob, ref: ChunkRef): Location {
  return { pack: blob.packs[ref[1]]!, offset: ref[2], length: ref[3] };
}
