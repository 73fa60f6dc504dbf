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
import { BufferPool } from '../core/buffer-pool.ts';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { readPieces, type Piece } from '../copy/chunk-reader.ts';
import { openSource } from '../copy/endpoints.ts';
import { DEFAULT_BLOCK_SIZE } from '../copy/replicate.ts';
import { ImageChecksum, blockHashes } from '../ledger/format.ts';
import { dataRanges } from '../system/extent-map.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { arrivedPacks, Recent, type Arrived } from './arrived.ts';
import { chunkName, encodeObject, worthCompressing } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import {
  segmentLocation,
  segmentShape,
  writeManifest,
  type GenerationStats,
  type Manifest,
  type SegmentEntry,
} from './manifest.ts';
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
  /** called once every pack is in the store, before the manifest is written; throwing stops it */
  beforeManifest?: () => void;
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

/** How many segments may be being compressed and packed while the next ones are read and hashed. */
const DEPTH = 8;

/** One generation's segments as they are read: each one zero, unchanged, arrived already, or written. */
class Segments {
  readonly stats = emptyStats();
  readonly entries: (SegmentEntry | null)[] = [];
  readonly table = new PackTable();
  private readonly image = new ImageChecksum();
  private readonly zeros: Buffer;
  private readonly recentChunks = new Recent<Promise<Location>>(65536);
  private readonly recentSegments = new Recent<Reusable>(4096);
  /** the segments being written, oldest first */
  private readonly pending: Promise<void>[] = [];
  /** copies of the segments being written */
  private readonly copies: BufferPool;
  private queue: Promise<unknown> = Promise.resolve();
  private failed: unknown = null;

  constructor(
    private readonly plan: SendPlan,
    private readonly arrived: Arrived,
    private readonly writer: PackWriter,
  ) {
    this.zeros = Buffer.alloc(plan.manifest.chunkSize);
    this.copies = new BufferPool(plan.manifest.segmentSize, DEPTH + 1);
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

  private length(j: number, size: number): number {
    return Math.min(this.plan.manifest.chunkSize, size - j * this.plan.manifest.chunkSize);
  }

  /** Names the piece's chunks and decides what it costs; a segment to write is written while the next are read. */
  async add(piece: Piece): Promise<void> {
    const { stats } = this;
    this.image.add(blockHashes(piece.data, DEFAULT_BLOCK_SIZE));
    stats.bytesRead += piece.hole ? 0 : piece.data.length;
    const names = this.names(piece);
    names.forEach((name, j) => {
      if (name) return;
      stats.chunksZero++;
      stats.bytesZero += this.length(j, piece.data.length);
    });
    if (names.every((name) => name === null)) {
      this.entries.push(null);
      return;
    }
    const name = segmentName(names, this.plan.key);
    const reuse = this.reusable(this.entries.length, name);
    if (reuse) {
      names.forEach((chunk, j) => chunk && this.deduplicated(this.length(j, piece.data.length)));
      this.entries.push(this.entry(name, reuse));
      return;
    }
    // the piece's buffer is read into again once this returns: the segment is written from a copy
    const slot = this.entries.push(null) - 1;
    const copy = this.copies.take();
    piece.data.copy(copy);
    const written = this.write(copy.subarray(0, piece.data.length), name, names, slot).finally(() =>
      this.copies.give(copy),
    );
    written.catch(() => undefined);
    this.pending.push(written);
    while (this.pending.length > DEPTH) await this.pending.shift();
  }

  /** Waits for every segment being written; throws the first failure. */
  async finish(): Promise<void> {
    for (const written of this.pending.splice(0)) await written;
    await this.queue;
    if (this.failed) throw this.failed;
  }

  /** Waits for every segment being written, whatever becomes of them. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending.splice(0));
    await this.queue;
  }

  /** Runs `step` after the steps queued before it: blobs are added to packs one at a time. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.failed) throw this.failed;
      return step();
    });
    this.queue = run.catch((error: unknown) => {
      this.failed ??= error;
    });
    return run;
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
    const { chunks } = segmentShape(previous, i);
    try {
      const blob = await fetchSegment(this.plan.store, segmentLocation(previous, i)!, entry[0], { key, chunks });
      for (const ref of blob.chunks) if (ref) known.set(ref[0], chunkLocation(blob, ref));
    } catch (error) {
      // a previous generation that is damaged costs this one its chunks being sent again, nothing else
      if (!isDataLoss(error)) throw error;
    }
    return known;
  }

  /** Where chunk `j` (named `chunk`) will be: known already, or compressed now and added to a pack in turn. */
  private place(data: Buffer, chunk: string, j: number, known: Map<string, Location>, compressible: boolean) {
    const at = known.get(chunk) ?? this.arrived.chunks.get(chunk);
    const recent = at ? Promise.resolve(at) : this.recentChunks.get(chunk);
    if (recent) {
      this.deduplicated(this.length(j, data.length));
      return recent;
    }
    const { chunkSize } = this.plan.manifest;
    const content = data.subarray(j * chunkSize, (j + 1) * chunkSize);
    const encoded = encodeObject('chunk', chunk, content, this.plan.key, compressible);
    const location = this.serial(async () => this.writer.add({ kind: 'chunk', name: chunk }, await encoded));
    encoded.catch(() => undefined);
    location.catch(() => undefined);
    this.recentChunks.set(chunk, location);
    this.stats.chunksSent++;
    return location;
  }

  /** Writes the segment's new chunks and its blob, and fills in its entry. */
  private async write(data: Buffer, name: string, names: (string | null)[], slot: number): Promise<void> {
    const known = await this.previousChunks(slot);
    const compressible = worthCompressing(data);
    const placed = names.map((chunk, j) => (chunk ? this.place(data, chunk, j, known, compressible) : null));
    const locations = await Promise.all(placed);
    const blob = segmentBlob(names, locations);
    const object = await encodeSegment(name, blob, this.plan.key);
    const location = await this.serial(() => this.writer.add({ kind: 'segment', name, packs: blob.packs }, object));
    const written = { location, packs: blob.packs };
    this.recentSegments.set(name, written);
    this.entries[slot] = this.entry(name, written);
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
    await segments.finish();
    await writer.finish();
  } finally {
    // nothing is left running once this returns or throws
    await segments.settle();
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
  plan.beforeManifest?.();
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
