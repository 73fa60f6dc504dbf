// `qrv recover VOLUME --from a-…`: a volume's image restored from an archive generation (F15),
// through the descriptor recover.ts opened and checked for the target: every chunk checked
// against its name before it is written, then the whole target read back and compared with the
// image checksum the generation recorded when it was sent.
import type { FileHandle } from 'node:fs/promises';
import type { ArchiveRow, CatalogData } from '../catalog/schema.ts';
import { findArchive } from '../catalog/lookup.ts';
import { checksumImage } from '../copy/block-copy.ts';
import type { CopyResult } from '../copy/replicate.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { JobRecorder } from '../engine/job-recorder.ts';
import type { ArchiveKey } from '../archive/key.ts';
import { chunkCount, readManifest, type Manifest } from '../archive/manifest.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { restoreGeneration } from '../archive/restore.ts';
import { accessGeneration } from './stores.ts';

/** The generation `id` of `volume`, ready to restore from. */
export function readyArchive(data: CatalogData, volume: string, id: string): ArchiveRow {
  const row = findArchive(data, id);
  if (row.volume !== volume)
    throw new QrvError(
      'refused',
      'wrong-volume',
      `archive generation ${id} is of "${row.volume}", not "${volume}"`,
      `recover "${row.volume}", or pick a generation of "${volume}"`,
    );
  if (row.state !== 'ready')
    throw new QrvError(
      'refused',
      'archive-not-ready',
      `archive generation ${id} is ${row.state}, not ready`,
      row.state === 'removed'
        ? 'pick another generation from `qrv list`'
        : `finish it with \`qrv archive --resume ${row.jobId}\``,
    );
  return row;
}

export interface ArchiveTarget {
  target: string;
  handle: FileHandle;
  /** the target file was made by this recovery (zero chunks stay holes) */
  fresh: boolean;
}

/** The generation's manifest, checked, and the same image checksum its row recorded. */
function readChecked(
  job: JobRecorder,
  store: ArchiveStore,
  row: ArchiveRow,
  key: ArchiveKey | null,
): Promise<Manifest> {
  return job.step(
    'recover',
    'read manifest',
    async () => {
      const m = await readManifest(store, row.volume, row.id, key, row.manifestDigest);
      if (row.checksum && m.checksum !== row.checksum)
        throw new QrvError(
          'verify',
          'archive-corrupt',
          `the manifest of ${row.id} in ${store.where} names checksum ${m.checksum}, not the ${row.checksum} recorded when it was sent`,
          'recover from another generation',
        );
      return m;
    },
    (m) =>
      `${row.id} in ${row.store}: ${chunkCount(m)} chunks in ${m.packs.length} pack${m.packs.length === 1 ? '' : 's'}, ${m.checksum}`,
  );
}

/** Reads the whole target back and compares it with the image checksum of the generation. */
function compareChecksums(ctx: Context, job: JobRecorder, manifest: Manifest, to: ArchiveTarget): Promise<string> {
  return job.step(
    'verify',
    'compare checksums',
    async () => {
      const written = await checksumImage(to.target, manifest.sizeBytes, {
        reporter: ctx.reporter,
        blockSize: manifest.blockSize,
        handle: to.handle,
      });
      if (written !== manifest.checksum)
        throw new QrvError(
          'verify',
          'verify-mismatch',
          `${to.target} does not read back as ${manifest.id} (${written} ≠ ${manifest.checksum})`,
          'check the target disk and recover again',
        );
      return written;
    },
    (sum) => `${to.target} matches ${manifest.id} (${sum})`,
  );
}

export async function restoreArchive(
  ctx: Context,
  job: JobRecorder,
  row: ArchiveRow,
  to: ArchiveTarget,
): Promise<CopyResult> {
  const { store, key, close } = await accessGeneration(ctx, row.store, row.keyFile, {
    kind: 'shared',
    command: `recover from ${row.id}`,
  });
  const started = process.hrtime.bigint();
  try {
    const manifest = await readChecked(job, store, row, key);
    const plan = {
      store,
      key,
      manifest,
      handle: to.handle,
      target: to.target,
      fresh: to.fresh,
      reporter: ctx.reporter,
    };
    const restored = await job.step(
      'recover',
      'fetch and write',
      () => restoreGeneration(plan),
      (r) =>
        `${r.bytesWritten} bytes written to ${to.target}, ${r.bytesFetched} bytes fetched from ${row.store}, every chunk checked`,
    );
    await compareChecksums(ctx, job, manifest, to);
    return {
      method: 'full',
      bytesRead: restored.bytesFetched,
      bytesWritten: restored.bytesWritten,
      changedBlocks: 0,
      zeroBytesSkipped: 0,
      checksum: manifest.checksum,
      written: null,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  } finally {
    await close();
  }
}
