// Sending one archive generation: the image read once, segment by segment (4 MiB). A segment of
// zeros or a hole costs nothing. A segment whose chunks are those of the previous generation's
// segment at the same place (the same segment name) costs nothing either: its entry is copied
// from the previous manifest, without a request. Only a changed segment costs a request: its
// previous blob is fetched (one ranged get), and only its chunks that are new — in practice the
// 64 KiB blocks that changed — are compressed, sealed and added to packs, with a new segment
// blob. Then, when every pack is in the store and flushed, the manifest.
//
// A killed send leaves whole packs and no manifest. Sending again (a resume) reads the indexes of
// its own packs: their segments are reused whole, and the chunks of its last packs one by one
// (those of a segment whose blob was still on its way); nothing that arrived is sent again.
import os from 'node:os';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { readPieces, type Piece } from '../copy/chunk-reader.ts';
import { openSource } from '../copy/endpoints.ts';
import { DEFAULT_BLOCK_SIZE } from '../copy/replicate.ts';
import { ImageChecksum, blockHashes } from '../ledger/format.ts';
import { dataRanges } from '../system/extent-map.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { arrivedPacks, Recent, type Arrived } from './arrived.ts';
import { chunkName, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { segmentLocation, writeManifest, type GenerationStats, type Manifest, type SegmentEntry } from './manifest.ts';
import { isDataLoss, PackWriter, type Location } from './pack.ts';
import { chunkLocation, encodeSegment, fetchSegment, segmentBlob, segmentName } from './segment.ts';

export interface SendPlan {
  store: ArchiveStore;
  key: ArchiveKey | null;
  /** the image: a snapshot's or a QRV's file or device */
  path: string;
  reporter: Reporter;
  /** what the manifest says besides its segments */
  manifest: Omit<
    Manifest,
    'packs' | 'segments' | 'stats' | 'checksum' | 'blockSize' | 'keyId' | 'host' | 'format' | 'version'
  >;
  packSize: number;
  /** the volume's newest generation in this store: what is unchanged since is not sent again */
  previous: Manifest | null;
  /** a resume: look for the packs this generation put before it was stopped */
  resume: boolean;
  /** the checksum the image must read as (a QRV's): a mismatch fails the send before its manifest */
  expectChecksum?: string | null;
  /** called after each segment with the totals so far (for the job's progress) */
  onChunk?: (stats: GenerationStats, segmentsDone: number) => void | Promise<void>;
}

function emptyStats(): GenerationStats {
  return {
    bytesRead: 0,
    bytesSent: 0,
    bytesDeduplicated: 0,
    bytesZero: 0,
    chunksSent: 0,
    chunksDeduplicated: 0,
    chunksZero: 0,
    seconds: 0,
  };
}

/** The manifest's table of packs: each named once, referred to by its index. */
class PackTable {
  readonly keys: string[] = [];
  private readonly at = new Map<string, number>();

  index(key: string): number {
    let i = this.at.get(key);
    if (i === undefined) {
      i = this.keys.push(key) - 1;
      this.at.set(key, i);
    }
    return i;
  }
}

interface Reusable {
  location: Location;
  packs: string[];
}

/** One generation's segments as they are read: each one zero, unchanged, arrived already, or written. */
class Segments {
  readonly stats = emptyStats();
  readonly entries: (SegmentEntry | null)[] = [];
  readonly table = new PackTable();
  private readonly image = new ImageChecksum();
  private readonly zeros: Buffer;
  private readonly recentChunks = new Recent<Location>(65536);
  private readonly recentSegments = new Recent<Reusable>(4096);

  constructor(
    private readonly plan: SendPlan,
    private readonly arrived: Arrived,
    private readonly writer: PackWriter,
  ) {
    this.zeros = Buffer.alloc(plan.manifest.chunkSize);
  }

  /** The names of the piece's chunks, null for a chunk of zeros. */
  private names(piece: Piece): (string | null)[] {
    const { chunkSize } = this.plan.manifest;
    const names: (string | null)[] = [];
    for (let at = 0; at < piece.data.length; at += chunkSize) {
      const chunk = piece.data.subarray(at, at + chunkSize);
      const zero = piece.hole || this.zeros.compare(chunk, 0, chunk.length, 0, chunk.length) === 0;
      names.push(zero ? null : chunkName(chunk, this.plan.key));
    }
    return names;
  }

  async add(piece: Piece): Promise<void> {
    const { stats } = this;
    this.image.add(blockHashes(piece.data, DEFAULT_BLOCK_SIZE));
    stats.bytesRead += piece.hole ? 0 : piece.data.length;
    const names = this.names(piece);
    const { chunkSize } = this.plan.manifest;
    names.forEach((name, j) => {
      if (name) return;
      stats.chunksZero++;
      stats.bytesZero += Math.min(chunkSize, piece.data.length - j * chunkSize);
    });
    if (names.every((name) => name === null)) {
      this.entries.push(null);
      return;
    }
    const name = segmentName(names, this.plan.key);
    const reuse = this.reusable(this.entries.length, name);
    if (reuse) {
      names.forEach((chunk, j) => chunk && this.deduplicated(Math.min(chunkSize, piece.data.length - j * chunkSize)));
      this.entries.push(this.entry(name, reuse));
      return;
    }
    const written = await this.write(piece, name, names);
    this.recentSegments.set(name, written);
    this.entries.push(this.entry(name, written));
  }

  private deduplicated(bytes: number): void {
    this.stats.chunksDeduplicated++;
    this.stats.bytesDeduplicated += bytes;
  }

  private entry(name: string, { location, packs }: Reusable): SegmentEntry {
    const table = this.table;
    return [name, table.index(location.pack), location.offset, location.length, packs.map((p) => table.index(p))];
  }

  /** The same segment at the same place in the previous generation, or one that arrived or was just written. */
  private reusable(i: number, name: string): Reusable | null {
    const { previous } = this.plan;
    const entry = previous?.segments[i];
    if (previous && entry?.[0] === name)
      return { location: segmentLocation(previous, i)!, packs: entry[4].map((p) => previous.packs[p]!) };
    return this.arrived.segments.get(name) ?? this.recentSegments.get(name) ?? null;
  }

  /** The chunks of the previous generation's segment at this place, by name (none when it cannot be read). */
  private async previousChunks(i: number): Promise<Map<string, Location>> {
    const { previous, key } = this.plan;
    const entry = previous?.segments[i];
    const known = new Map<string, Location>();
    if (!previous || !entry) return known;
    const chunks = Math.ceil(
      Math.min(previous.segmentSize, previous.sizeBytes - i * previous.segmentSize) / previous.chunkSize,
    );
    try {
      const blob = await fetchSegment(this.plan.store, segmentLocation(previous, i)!, entry[0], { key, chunks });
      for (const ref of blob.chunks) if (ref) known.set(ref[0], chunkLocation(blob, ref));
    } catch (error) {
      // a previous generation that is damaged costs this one its chunks being sent again, nothing else
      if (!isDataLoss(error)) throw error;
    }
    return known;
  }

  /** Writes the segment's new chunks and its blob; returns where the blob is. */
  private async write(piece: Piece, name: string, names: (string | null)[]): Promise<Reusable> {
    const { chunkSize } = this.plan.manifest;
    const known = await this.previousChunks(this.entries.length);
    const locations: (Location | null)[] = names.map(() => null);
    const fresh = new Map<string, number[]>();
    names.forEach((chunk, j) => {
      if (!chunk) return;
      const at = known.get(chunk) ?? this.arrived.chunks.get(chunk) ?? this.recentChunks.get(chunk) ?? null;
      if (at) {
        locations[j] = at;
        this.deduplicated(Math.min(chunkSize, piece.data.length - j * chunkSize));
      } else fresh.set(chunk, [...(fresh.get(chunk) ?? []), j]);
    });
    const slice = (j: number) => piece.data.subarray(j * chunkSize, (j + 1) * chunkSize);
    const objects = await Promise.all(
      [...fresh].map(([chunk, [j]]) => encodeObject('chunk', chunk, slice(j!), this.plan.key)),
    );
    for (const [k, [chunk, places]] of [...fresh].entries()) {
      const at = await this.writer.add({ kind: 'chunk', name: chunk }, objects[k]!);
      this.recentChunks.set(chunk, at);
      this.stats.chunksSent++;
      for (const j of places) locations[j] = at;
      for (const j of places.slice(1)) this.deduplicated(slice(j).length);
    }
    const blob = segmentBlob(names, locations);
    const object = await encodeSegment(name, blob, this.plan.key);
    const location = await this.writer.add({ kind: 'segment', name, packs: blob.packs }, object);
    return { location, packs: blob.packs };
  }

  checksum(): string {
    return this.image.value();
  }
}

/** Reads the image once and sends what the store lacks; returns the segments with their entries and totals. */
async function sendSegments(plan: SendPlan): Promise<Segments> {
  const { path, store, key } = plan;
  const { sizeBytes, segmentSize, id } = plan.manifest;
  const arrived = plan.resume
    ? await arrivedPacks(store, key, id)
    : { segments: new Map(), chunks: new Map(), nextSeq: 1 };
  const writer = new PackWriter(store, key, id, arrived.nextSeq, {
    packSize: plan.packSize,
    onPut: (bytes) => (segments.stats.bytesSent += bytes),
  });
  const segments = new Segments(plan, arrived, writer);
  const meter = new ProgressMeter(plan.reporter, 'archive', sizeBytes);
  const { handle, stats: st } = await openSource(path, sizeBytes);
  try {
    const data = st.isFile() ? await dataRanges(`/proc/${process.pid}/fd/${handle.fd}`) : null;
    const ranges = [{ start: 0, end: sizeBytes }];
    for await (const piece of readPieces({
      handle,
      path,
      sizeBytes,
      bufferSize: segmentSize,
      depth: 2,
      data,
      ranges,
    })) {
      await segments.add(piece);
      meter.update(piece.offset + piece.data.length);
      await plan.onChunk?.(segments.stats, segments.entries.length);
    }
    await writer.finish();
  } finally {
    // no put is left running once this returns or throws
    await writer.abandon();
    await handle.close().catch(() => undefined);
  }
  meter.finish(sizeBytes);
  return segments;
}

export async function sendGeneration(plan: SendPlan): Promise<Manifest> {
  const started = process.hrtime.bigint();
  const segments = await sendSegments(plan);
  if (plan.expectChecksum && plan.expectChecksum !== segments.checksum())
    throw new QrvError(
      'verify',
      'source-mismatch',
      `${plan.path} read as ${segments.checksum()}, not as the ${plan.expectChecksum} recorded when it was made: it changed while it was read, or is damaged`,
      'nothing was recorded; run `qrv verify` on it, or archive its snapshot',
    );
  await plan.store.flush();
  const manifest: Manifest = {
    format: 'qrv-generation',
    version: 2,
    ...plan.manifest,
    host: os.hostname(),
    checksum: segments.checksum(),
    blockSize: DEFAULT_BLOCK_SIZE,
    keyId: plan.key ? plan.key.id.toString('hex') : null,
    packs: segments.table.keys,
    segments: segments.entries,
    stats: { ...segments.stats, seconds: Number(process.hrtime.bigint() - started) / 1e9 },
  };
  await writeManifest(plan.store, manifest, plan.key);
  return manifest;
}
