// Sending one archive generation: the image read once, in chunks; each chunk hashed, and put in
// the store only when the store does not hold it yet (a chunk of zeros costs nothing); then,
// when every chunk is there and flushed, the manifest. A killed send leaves chunks and no
// manifest: sending again (a resume) finds those chunks in the store's listing and does not send
// them again. At most UPLOADS puts are in flight; memory is bounded by them and the read-ahead.
import os from 'node:os';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter, type Reporter } from '../core/events.ts';
import { failpoint } from '../core/failpoints.ts';
import { readPieces, type Piece } from '../copy/chunk-reader.ts';
import { openSource } from '../copy/endpoints.ts';
import { DEFAULT_BLOCK_SIZE } from '../copy/replicate.ts';
import { ZeroDetector } from '../copy/zero-runs.ts';
import { ImageChecksum, blockHashes } from '../ledger/format.ts';
import { dataRanges } from '../system/extent-map.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { chunkName, encodeObject } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { chunkKey, storedChunks } from './layout.ts';
import { writeManifest, type GenerationStats, type Manifest } from './manifest.ts';

const UPLOADS = 4;

export interface SendPlan {
  store: ArchiveStore;
  key: ArchiveKey | null;
  /** the image: a snapshot's or a QRV's file or device */
  path: string;
  reporter: Reporter;
  /** what the manifest says besides its chunks */
  manifest: Omit<Manifest, 'chunks' | 'stats' | 'checksum' | 'blockSize' | 'keyId' | 'host' | 'format' | 'version'>;
  /** the checksum the image must read as (a QRV's): a mismatch fails the send before its manifest */
  expectChecksum?: string | null;
  /** called after each chunk with the totals so far (for the job's progress) */
  onChunk?: (stats: GenerationStats, chunksDone: number) => void | Promise<void>;
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

/** Puts at most UPLOADS objects at once; put() waits for a free slot; drain() for all, failing on the first error. */
class Uploads {
  private readonly running = new Set<Promise<void>>();
  private failed: unknown = null;

  constructor(private readonly store: ArchiveStore) {}

  async put(key: string, make: () => Promise<Buffer>, onDone: (bytes: number) => void): Promise<void> {
    while (this.running.size >= UPLOADS) await Promise.race(this.running);
    if (this.failed) throw this.failed;
    const upload = (async () => {
      const object = await make();
      await this.store.put(key, object);
      onDone(object.length);
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

/** One generation's chunks as they are read: each one named, then counted as zero, known or sent. */
class Chunker {
  readonly stats = emptyStats();
  readonly chunks: string[] = [];
  private readonly image = new ImageChecksum();
  private readonly zero: ZeroDetector;
  private readonly uploads: Uploads;

  constructor(
    private readonly plan: SendPlan,
    private readonly known: Set<string>,
  ) {
    this.zero = new ZeroDetector(plan.manifest.chunkSize);
    this.uploads = new Uploads(plan.store);
  }

  async add(piece: Piece): Promise<void> {
    const { stats } = this;
    const hashes = blockHashes(piece.data, DEFAULT_BLOCK_SIZE);
    this.image.add(hashes);
    stats.bytesRead += piece.hole ? 0 : piece.data.length;
    if (piece.hole || this.zero.isZero(piece.data, 0, piece.data.length)) {
      this.chunks.push('');
      stats.chunksZero++;
      stats.bytesZero += piece.data.length;
      return;
    }
    const name = chunkName(piece.data, this.plan.key);
    this.chunks.push(name);
    if (this.known.has(name)) {
      stats.chunksDeduplicated++;
      stats.bytesDeduplicated += piece.data.length;
      return;
    }
    this.known.add(name);
    const content = Buffer.from(piece.data);
    const make = () => encodeObject('chunk', name, content, this.plan.key);
    await this.uploads.put(chunkKey(name), make, (bytes) => {
      stats.bytesSent += bytes;
      stats.chunksSent++;
    });
  }

  /** Waits for every put; throws the first that failed. */
  finish(): Promise<void> {
    return this.uploads.drain();
  }

  checksum(): string {
    return this.image.value();
  }
}

/** Reads the image once and sends what the store lacks; returns the chunker with the names and totals. */
async function sendChunks(plan: SendPlan): Promise<Chunker> {
  const { path } = plan;
  const { sizeBytes, chunkSize } = plan.manifest;
  const chunker = new Chunker(plan, await storedChunks(plan.store));
  const meter = new ProgressMeter(plan.reporter, 'archive', sizeBytes);
  const { handle, stats: st } = await openSource(path, sizeBytes);
  try {
    const data = st.isFile() ? await dataRanges(`/proc/${process.pid}/fd/${handle.fd}`) : null;
    const ranges = [{ start: 0, end: sizeBytes }];
    for await (const piece of readPieces({ handle, path, sizeBytes, bufferSize: chunkSize, depth: 2, data, ranges })) {
      await chunker.add(piece);
      meter.update(piece.offset + piece.data.length);
      await plan.onChunk?.(chunker.stats, chunker.chunks.length);
    }
    await chunker.finish();
  } finally {
    // no put is left running once this returns or throws
    await chunker.finish().catch(() => undefined);
    await handle.close().catch(() => undefined);
  }
  meter.finish(sizeBytes);
  return chunker;
}

export async function sendGeneration(plan: SendPlan): Promise<Manifest> {
  const started = process.hrtime.bigint();
  const chunker = await sendChunks(plan);
  if (plan.expectChecksum && plan.expectChecksum !== chunker.checksum())
    throw new QrvError(
      'verify',
      'source-mismatch',
      `${plan.path} read as ${chunker.checksum()}, not as the ${plan.expectChecksum} recorded when it was made: it changed while it was read, or is damaged`,
      'nothing was recorded; run `qrv verify` on it, or archive its snapshot',
    );
  await plan.store.flush();
  const manifest: Manifest = {
    format: 'qrv-generation',
    version: 1,
    ...plan.manifest,
    host: os.hostname(),
    checksum: chunker.checksum(),
    blockSize: DEFAULT_BLOCK_SIZE,
    keyId: plan.key ? plan.key.id.toString('hex') : null,
    chunks: chunker.chunks,
    stats: { ...chunker.stats, seconds: Number(process.hrtime.bigint() - started) / 1e9 },
  };
  await writeManifest(plan.store, manifest, plan.key);
  return manifest;
}
