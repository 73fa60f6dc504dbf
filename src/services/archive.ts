// `qrv archive ID --to STORE [--encrypt KEYFILE]` and `qrv archive --resume JOB` (F15): one
// archive generation of a snapshot or QRV, sent to a store. The generation's row is written
// (state sending) before the first chunk goes out and made ready only once its manifest is in
// the store; a killed or failed send leaves the row failed (or running with a dead process, which
// `qrv doctor` reports) and the chunks that arrived, which a resume does not send again.
import type { ArchiveRow, CatalogData, Snapshot } from '../catalog/schema.ts';
import { findJob, idTaken, readableSnapshot, readyQrv } from '../catalog/lookup.ts';
import { DEFAULT_BLOCK_SIZE } from '../copy/block-copy.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError, isQrvError } from '../core/errors.ts';
import { idKind, newId } from '../core/ids.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive, withJob, type JobRecorder } from '../engine/job-recorder.ts';
import type { Summary } from '../output/printer.ts';
import { chunkCount, manifestDigest, readManifest, type GenerationStats, type Manifest } from '../archive/manifest.ts';
import { sendGeneration } from '../archive/send.ts';
import { accessGeneration, findStore, type GenerationAccess } from './stores.ts';
import { compareText } from '../core/text.ts';

export interface ArchiveRequest {
  /** the snapshot or QRV to archive (not with resume) */
  id?: string;
  to?: string;
  /** a key file: the generation is sealed (AES-256-GCM) */
  encrypt?: string;
  /** a failed or killed archive job to finish */
  resume?: string;
}

interface ArchiveSource {
  id: string;
  volume: string;
  path: string;
  sizeBytes: number;
  snapshot: Snapshot;
  qrvId: string | null;
  /** the checksum the image must have (a QRV's, recorded when it was made), or null */
  checksum: string | null;
}

/** What an archive reads: a ready snapshot, or a ready QRV whose snapshot (its point in time) the catalog knows. */
export function archiveSource(data: CatalogData, id: string): ArchiveSource {
  if (idKind(id) !== 'q') {
    const snapshot = readableSnapshot(data, id);
    const { path, sizeBytes, volume } = snapshot;
    return { id, volume, path, sizeBytes, snapshot, qrvId: null, checksum: null };
  }
  const qrv = readyQrv(data, id, 'archive a ready QRV or a snapshot');
  const snapshot = data.snapshots.find((s) => s.id === qrv.snapshotId);
  if (!snapshot)
    throw new QrvError(
      'refused',
      'qrv-not-ready',
      `QRV ${id} reflects ${qrv.snapshotId}, which is not in the catalog: its point in time is unknown`,
      'archive a snapshot, or copy a new snapshot into the QRV first',
    );
  const checksum =
    qrv.checksum?.startsWith('xxh64-blocks:') && qrv.blockSize === DEFAULT_BLOCK_SIZE ? qrv.checksum : null;
  return { id, volume: qrv.volume, path: qrv.destination, sizeBytes: qrv.sizeBytes, snapshot, qrvId: id, checksum };
}

function statsOf(row: ArchiveRow, stats: GenerationStats): void {
  row.bytesRead = stats.bytesRead;
  row.bytesSent = stats.bytesSent;
  row.bytesDeduplicated = stats.bytesDeduplicated;
  row.bytesZero = stats.bytesZero;
  row.seconds = stats.seconds;
}

function replaceArchive(data: CatalogData, row: ArchiveRow): void {
  const at = data.archives.findIndex((a) => a.id === row.id);
  if (at >= 0) data.archives[at] = structuredClone(row);
  else data.archives.push(structuredClone(row));
}

/** A new generation's row, or the row of the one a resume finishes. */
function plannedRow(data: CatalogData, request: ArchiveRequest, now: Date): { row: ArchiveRow; source: ArchiveSource } {
  if (request.resume) {
    const old = findJob(data, request.resume);
    const row = data.archives.find((a) => a.jobId === old.id);
    if (old.kind !== 'archive' || !row)
      throw new QrvError(
        'refused',
        'resume-impossible',
        `job ${old.id} is not an archive job`,
        'give the job id `qrv doctor` names',
      );
    if (jobAlive(old))
      throw new QrvError(
        'busy',
        'job-running',
        `job ${old.id} is still running (pid ${old.pid})`,
        'wait for it, or stop it first',
      );
    if (row.state !== 'sending' && row.state !== 'failed')
      throw new QrvError(
        'refused',
        'resume-impossible',
        `generation ${row.id} is ${row.state}: nothing to resume`,
        'see it with `qrv show`',
      );
    return { row: structuredClone(row), source: archiveSource(data, row.sourceId) };
  }
  if (!request.id || !request.to)
    throw new QrvError('usage', 'usage', 'qrv archive needs a snapshot or QRV id and --to STORE', 'or --resume JOB');
  const source = archiveSource(data, request.id);
  findStore(data, request.to);
  const row: ArchiveRow = {
    id: newId('a', idTaken(data)),
    volume: source.volume,
    store: request.to,
    sourceId: source.id,
    snapshotId: source.snapshot.id,
    pointInTime: source.snapshot.createdAt,
    consistency: source.snapshot.consistency,
    state: 'sending',
    sizeBytes: source.sizeBytes,
    chunkSize: 0,
    chunks: 0,
    keyFile: request.encrypt ?? null,
    checksum: null,
    bytesRead: 0,
    bytesSent: 0,
    bytesDeduplicated: 0,
    bytesZero: 0,
    seconds: 0,
    createdAt: now.toISOString(),
    finishedAt: null,
    removedAt: null,
    jobId: '',
    lastVerify: null,
  };
  return { row, source };
}

/**
 * The volume's newest ready generation in the same store before this one, read from the store:
 * what is unchanged since is not sent again. One that cannot be read (damaged, or sealed with
 * another key) is passed over: the generation is then sent whole, which costs bytes, not safety.
 */
async function previousManifest(ctx: Context, row: ArchiveRow, access: GenerationAccess): Promise<Manifest | null> {
  const data = await ctx.catalog.read();
  const before = data.archives
    .filter((a) => a.volume === row.volume && a.store === row.store && a.state === 'ready' && a.id !== row.id)
    .sort((a, b) => compareText(b.createdAt, a.createdAt));
  const newest = before.find((a) => a.keyFile === row.keyFile) ?? before[0];
  if (!newest) return null;
  try {
    return await readManifest(access.store, newest.volume, newest.id, access.key, newest.manifestDigest);
  } catch (error) {
    if (!isQrvError(error) || !['archive-corrupt', 'archive-key', 'store-object-missing'].includes(error.code))
      throw error;
    ctx.reporter.warn(`${newest.id} cannot be read (${error.message}): this generation is sent whole`);
    return null;
  }
}

async function send(ctx: Context, job: JobRecorder, row: ArchiveRow, source: ArchiveSource): Promise<Manifest> {
  const access = await accessGeneration(ctx, row.store, row.keyFile, {
    kind: 'shared',
    command: `archive ${row.sourceId} as ${row.id}`,
  });
  const { store, key, header } = access;
  try {
    const resume = row.jobId !== '';
    row.jobId = job.id;
    row.state = 'sending';
    job.set({ snapshotId: source.snapshot.id, qrvId: source.qrvId, destination: `${row.store}:${row.id}` });
    // a resumed generation keeps the chunk size it began with
    row.chunkSize ||= header.chunkSize;
    await job.begin((catalog) => replaceArchive(catalog, row));
    const previous = await previousManifest(ctx, row, access);
    let saved = Date.now();
    const manifest = await job.step(
      'archive',
      'send chunks',
      () =>
        sendGeneration({
          store,
          key,
          path: source.path,
          reporter: ctx.reporter,
          expectChecksum: source.checksum,
          packSize: header.packSize,
          // a lock lost while sending (a prune took the store) leaves the manifest unwritten
          beforeManifest: () => access.lock?.check(),
          previous,
          resume,
          manifest: {
            id: row.id,
            volume: row.volume,
            sizeBytes: row.sizeBytes,
            chunkSize: row.chunkSize,
            segmentSize: header.segmentSize,
            pointInTime: row.pointInTime,
            createdAt: row.createdAt,
            sourceId: row.sourceId,
            snapshotId: row.snapshotId,
            consistency: row.consistency,
          },
          onChunk: async (stats) => {
            if (Date.now() - saved < 5000) return;
            saved = Date.now();
            statsOf(row, stats);
            await job.commit((catalog) => replaceArchive(catalog, row));
          },
        }),
      (m) =>
        `${chunkCount(m)} chunks: ${m.stats.chunksSent} sent (${formatBytes(m.stats.bytesSent)} in packs), ${m.stats.chunksDeduplicated} already there, ${m.stats.chunksZero} zero`,
    );
    return manifest;
  } finally {
    await access.close();
  }
}

export async function archive(ctx: Context, request: ArchiveRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const { row, source } = plannedRow(data, request, ctx.now());
  const failed = (catalog: CatalogData) => {
    const live = catalog.archives.find((a) => a.id === row.id);
    if (live?.state === 'sending') live.state = 'failed';
  };
  const { result: manifest, job } = await withJob(ctx, 'archive', row.volume, async (job) => {
    if (request.resume) job.set({ resumes: request.resume });
    try {
      const manifest = await send(ctx, job, row, source);
      statsOf(row, manifest.stats);
      Object.assign(row, {
        state: 'ready',
        chunks: chunkCount(manifest),
        checksum: manifest.checksum,
        manifestDigest: manifestDigest(manifest),
        finishedAt: ctx.now().toISOString(),
      });
      await job.commit((catalog) => replaceArchive(catalog, row));
      return manifest;
    } catch (error) {
      await job.commit(failed).catch(() => undefined);
      throw error;
    }
  });
  const s = manifest.stats;
  return {
    data: { archive: row, job },
    lines: [
      `archived ${row.sourceId} of ${row.volume} (${row.pointInTime}) to ${row.store} as ${row.id}${request.resume ? `, resuming ${request.resume}` : ''}`,
      `${formatBytes(row.sizeBytes)} image: sent ${formatBytes(s.bytesSent)} in ${s.chunksSent} chunks, ${formatBytes(s.bytesDeduplicated)} already in the store, ${formatBytes(s.bytesZero)} zeros, in ${s.seconds.toFixed(1)} s`,
    ],
  };
}
