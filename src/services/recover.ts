// `qrv recover VOLUME --from ID [--to PATH] [--force]`: volume-level recovery. Writes a snapshot
// or QRV back over the volume (only with --force, and never while it is mounted, used as swap,
// held by a device stacked on it, or — an image — attached to a loop device) or to a new path,
// then checks what was written against what was read and, for a QRV, against the checksum
// recorded when it was made. The target is opened once, as it was checked (no symlink followed
// at its name, the same file or device, a new file only where none is), and written and read
// back through that descriptor. A frozen filesystem does not make it safe: its cache and in-memory
// metadata would be stale and written back at the thaw, over the recovered data.
import type { Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { copyImage, checksumImage, type CopyResult } from '../copy/block-copy.ts';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { idKind } from '../core/ids.ts';
import type { Context } from '../engine/context.ts';
import { withJob, type JobRecorder } from '../engine/job-recorder.ts';
import { namedTarget, openChecked } from '../engine/destination.ts';
import { findQrv, findVolume, readableSnapshot, readyQrv } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { chooseAt, choseLine } from './resolve.ts';
import { blockDeviceSize } from '../system/block-device.ts';
import { activeUses, describeUse, usesOf } from '../system/device-use.ts';
import type { ArchiveRow, CatalogData } from '../catalog/schema.ts';
import { readyArchive, restoreArchive } from './recover-archive.ts';
import { holdersOf, refuseProtected, sameThing } from '../engine/protected.ts';

export interface RecoverRequest {
  volume: string;
  /** the snapshot or QRV; or, with asOf, none */
  from?: string;
  /** instead of from: the copy `qrv resolve VOLUME --as-of` chooses */
  asOf?: string;
  to?: string;
  force: boolean;
}

interface Source {
  id: string;
  /** an archive generation: restored from its store, not copied from a path */
  archive?: ArchiveRow;
  path: string;
  sizeBytes: number;
  /** the checksum recorded when the copy was made, when there is one */
  checksum: string | null;
  /** the block size that checksum was computed with */
  blockSize?: number;
}

export async function sourceOf(ctx: Context, volume: string, id: string): Promise<Source> {
  const data = await ctx.catalog.read();
  if (idKind(id) === 'a') {
    const archive = readyArchive(data, volume, id);
    return { id, path: '', sizeBytes: archive.sizeBytes, checksum: archive.checksum, archive };
  }
  if (idKind(id) === 'q') {
    const qrv = findQrv(data, id);
    if (qrv.volume !== volume)
      throw new QrvError(
        'refused',
        'wrong-volume',
        `QRV ${id} is a copy of "${qrv.volume}", not "${volume}"`,
        `recover "${qrv.volume}", or pick a QRV of "${volume}"`,
      );
    readyQrv(data, id);
    // Checksums of QRVs made before schema 3 ("xxh64:", over the whole image) are not comparable.
    const checksum = qrv.checksum?.startsWith('xxh64-blocks:') ? qrv.checksum : null;
    return { id, path: qrv.destination, sizeBytes: qrv.sizeBytes, checksum, blockSize: qrv.blockSize };
  }
  const snapshot = readableSnapshot(data, id);
  if (snapshot.volume !== volume)
    throw new QrvError(
      'refused',
      'wrong-volume',
      `snapshot ${id} is of "${snapshot.volume}", not "${volume}"`,
      `recover "${snapshot.volume}", or pick a snapshot of "${volume}"`,
    );
  return { id, path: snapshot.path, sizeBytes: snapshot.sizeBytes, checksum: null };
}

/**
 * Checks the target before anything is written: the volume itself or nothing of qrv's (another
 * volume, a snapshot, a QRV — its own included —, a ledger, a pool member, the home: compared by
 * dev/inode, so a symlink or hard link to one is caught too), not in use, overwritten only with
 * --force, large enough.
 */
/** A recovery's target as asked: `target` (its stats, null when absent) for `volume`'s copy of `sizeBytes`. */
export interface TargetAsk {
  volume: string;
  target: string;
  st: Stats | null;
  /** the target is the volume itself */
  isVolume: boolean;
  force: boolean;
  sizeBytes: number;
}

export async function checkTarget(data: CatalogData, home: string, ask: TargetAsk): Promise<'file' | 'block'> {
  const { target, st } = ask;
  refuseProtected(await holdersOf(data, home, target, st), 'target', target, { volume: ask.volume });
  await refuseInUse(ask);
  if (st?.isBlockDevice()) {
    const size = await blockDeviceSize(target);
    if (size < ask.sizeBytes)
      throw new QrvError(
        'refused',
        'target-too-small',
        `${target} holds ${size} bytes; the copy needs ${ask.sizeBytes}`,
        'choose a larger target',
      );
    return 'block';
  }
  if (st && !st.isFile())
    throw new QrvError(
      'refused',
      'target-kind',
      `${target} is neither a file nor a block device`,
      'give an image file path',
    );
  if (!st)
    await fs.access(path.dirname(target)).catch(() => {
      throw new QrvError(
        'refused',
        'target-folder',
        `folder ${path.dirname(target)} does not exist`,
        'create it first',
      );
    });
  return 'file';
}

/**
 * Refuses a target in use: mounted, swapped on or under another device (the volume: said so),
 * an existing one without --force, or one still attached (a loop device) even with --force.
 */
async function refuseInUse(ask: TargetAsk): Promise<void> {
  const { target, st, isVolume } = ask;
  const uses = st ? await usesOf(target) : [];
  const active = activeUses(uses);
  if (active.length) {
    const what = `${target} is ${active.map(describeUse).join(', ')}`;
    if (isVolume)
      throw new QrvError(
        'refused',
        'volume-mounted',
        `${what}; recovery would write under it`,
        'stop what uses it and unmount it (swapoff, or remove the device stacked on it) first; qrv never writes under a mounted filesystem, not even a frozen one',
      );
    throw new QrvError(
      'refused',
      'target-in-use',
      what,
      'unmount it and stop what uses it first, or give --to another path',
    );
  }
  if (st && !ask.force) {
    throw new QrvError(
      'refused',
      'target-exists',
      `${target} exists${isVolume ? ' (it is the volume)' : ''}; recovery would overwrite it`,
      'add --force to overwrite it, or give --to a new path',
    );
  }
  if (uses.length)
    throw new QrvError(
      'refused',
      'target-in-use',
      `${target} is ${uses.map(describeUse).join(', ')}`,
      'unmount and detach it (losetup -d) first',
    );
}

/** The copy itself as the target: refused in the check, before the job row is written. */
async function refuseOwnSource(target: string, st: Stats | null, source: Source): Promise<void> {
  if (source.archive) return;
  const other = await fs.stat(source.path).catch(() => null);
  if (st && other && sameThing(st, other))
    throw new QrvError(
      'refused',
      'same-file',
      `${target} is ${source.id} itself; recovering it onto itself would destroy it`,
      'give --to another path',
    );
}

/** Writes the source to the target through the descriptor opened for it, then reads it back. */
async function writeBack(
  ctx: Context,
  job: JobRecorder,
  source: Source,
  to: { target: string; kind: 'file' | 'block'; handle: FileHandle },
): Promise<CopyResult> {
  const { target, kind, handle } = to;
  const copy = await job.step(
    'recover',
    'write back',
    () =>
      copyImage({
        source: source.path,
        destination: target,
        destinationHandle: handle,
        sizeBytes: source.sizeBytes,
        destinationKind: kind,
        reporter: ctx.reporter,
        phase: 'recover',
        blockSize: source.blockSize,
      }),
    (r) => `${r.bytesRead} bytes from ${source.id} to ${target}`,
  );
  await job.step(
    'verify',
    'compare checksums',
    async () => {
      if (source.checksum && source.checksum !== copy.checksum) {
        throw new QrvError(
          'verify',
          'source-mismatch',
          `${source.id} no longer matches the checksum recorded when it was made (${copy.checksum} ≠ ${source.checksum})`,
          `the copy at ${source.path} is damaged; recover from another snapshot or QRV`,
        );
      }
      const written = await checksumImage(target, source.sizeBytes, {
        reporter: ctx.reporter,
        blockSize: source.blockSize,
        handle,
      });
      if (written !== copy.checksum)
        throw new QrvError(
          'verify',
          'verify-mismatch',
          `${target} does not read back as written (${written} ≠ ${copy.checksum})`,
          'check the target disk and recover again',
        );
      return written;
    },
    (sum) => `${target} matches ${source.id} (${sum})`,
  );
  return copy;
}

const kindLine = (kind: 'file' | 'block', isVolume: boolean): string =>
  `${isVolume ? 'the volume' : 'the --to target'}, ${kind === 'block' ? 'a block device' : 'an image file'}, not in use`;

/** What a group recovery needs to know of one member's attempt. */
export interface Attempt {
  /** the member's target was (being) written */
  written: boolean;
}

export async function recover(
  ctx: Context,
  request: RecoverRequest,
  attempt: Attempt = { written: false },
): Promise<Summary> {
  const data = await ctx.catalog.read();
  // A host that lost its catalog recovers from an imported archive generation to a new path (--to)
  // without the volume's row: nothing of the old host's is overwritten, so nothing needs it.
  const fromArchiveOnly =
    request.from !== undefined &&
    idKind(request.from) === 'a' &&
    request.to !== undefined &&
    !data.volumes.some((v) => v.name === request.volume);
  const volume = fromArchiveOnly
    ? { name: request.volume, path: request.to as string }
    : findVolume(data, request.volume);
  // --as-of instead of --from: the copy `qrv resolve` chooses.
  const chosen = request.asOf !== undefined ? chooseAt(data, volume.name, request.asOf, ctx.now()) : null;
  const from = chosen?.chosen.id ?? request.from;
  if (from === undefined)
    throw new QrvError(
      'usage',
      'usage',
      `qrv recover ${volume.name} needs --from <id> or --as-of <time>`,
      'e.g. `qrv recover web --as-of "2h ago" --to /tmp/web.img`',
    );
  const source = await sourceOf(ctx, volume.name, from);
  const target = path.resolve(request.to ?? volume.path);
  // Checked, opened and written as what the named path (a symlink named resolved once) is now.
  const planned = await namedTarget(target);
  // --to naming the volume itself (by another path, a symlink or a hard link) is the volume.
  const isVolume =
    !request.to ||
    (await holdersOf(data, ctx.catalog.home, planned.target, planned.st)).some(
      (h) => h.kind === 'volume' && h.volume === volume.name && !h.under,
    );
  const ask: TargetAsk = {
    volume: volume.name,
    target: planned.target,
    st: planned.st,
    isVolume,
    force: request.force,
    sizeBytes: source.sizeBytes,
  };
  const { result, job } = await withJob(ctx, 'recover', volume.name, (job) =>
    recoverInJob({ ctx, job, data, source, attempt }, target, ask),
  );
  return {
    data: {
      job,
      source: source.id,
      ...(chosen ? { asOf: chosen.asOf } : {}),
      target,
      checksum: result.checksum,
      bytesWritten: result.bytesWritten,
      seconds: result.seconds,
    },
    lines: [
      ...(chosen ? [choseLine(chosen)] : []),
      `recovered ${volume.name} from ${source.id} to ${target} (${result.checksum}) in ${result.seconds.toFixed(2)} s`,
    ],
  };
}

/** A recovery's job: the target checked, the job begun, the target opened once and written back. */
async function recoverInJob(
  run: { ctx: Context; job: JobRecorder; data: CatalogData; source: Source; attempt: Attempt },
  target: string,
  ask: TargetAsk,
): Promise<CopyResult> {
  const { ctx, job, data, source } = run;
  job.set({
    destination: target,
    ...(idKind(source.id) === 'q' ? { qrvId: source.id } : source.archive ? {} : { snapshotId: source.id }),
  });
  const kind = await job.step(
    'recover',
    'check target',
    async () => {
      await refuseOwnSource(target, ask.st, source);
      return checkTarget(data, ctx.catalog.home, ask);
    },
    (k) => `${target}: ${kindLine(k, ask.isVolume)}`,
  );
  await job.begin();
  await failpoint('before-write-back');
  const handle = await openChecked(
    await ctx.catalog.read(),
    ctx.catalog.home,
    { path: ask.target, kind, planned: ask.st, role: 'target' },
    'target',
    { volume: ask.volume },
  );
  try {
    run.attempt.written = true;
    if (source.archive)
      return await restoreArchive(ctx, job, source.archive, { target, handle, fresh: ask.st === null });
    return await writeBack(ctx, job, source, { target, kind, handle });
  } finally {
    await handle.close().catch(() => undefined);
  }
}
