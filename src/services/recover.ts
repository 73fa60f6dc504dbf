// `qrv recover VOLUME --from ID [--to PATH] [--force]`: volume-level recovery. Writes a snapshot
// or QRV back over the volume (only with --force, and never while it is mounted, used as swap,
// held by a device stacked on it, or — an image — attached to a loop device) or to a new path,
// then checks what was written against what was read and, for a QRV, against the checksum
// recorded when it was made. The target is opened once, as it was checked (no symlink followed
// at its name, the same file or device, a new file only where none is), and written and read
// back through that descriptor. A frozen filesystem does not make it safe: its cache and in-memory
// metadata would be stale and written back at the thaw, over the recovered data.
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
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
import type { ArchiveRow, CatalogData, Volume } from '../catalog/schema.ts';
import { writeBack, type WriteBackResult, type WriteBackSource } from './write-back.ts';
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
  /** write every block instead of only what differs from the copy */
  full?: boolean;
  /** the killed recovery job this one finishes (recover-resume.ts): no snapshot of the half-written volume */
  resumes?: string;
}

interface Source extends WriteBackSource {
  /** an archive generation: restored from its store, not copied from a path */
  archive?: ArchiveRow;
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
    return { id, path: qrv.destination, sizeBytes: qrv.sizeBytes, checksum, blockSize: qrv.blockSize, qrv };
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
  const over = {
    volume: isVolume && 'provider' in volume && !request.resumes ? volume : null,
    full: request.full === true,
    resumes: request.resumes ?? null,
  };
  const { result, job } = await withJob(ctx, 'recover', volume.name, (job) =>
    recoverInJob({ ctx, job, data, source, attempt, ...over }, target, ask),
  );
  return recoverSummary({ volume: volume.name, source, target, chosen, job }, result);
}

/** The summary of one recovery: what was recovered, how, and what it read and wrote. */
function recoverSummary(
  done: { volume: string; source: Source; target: string; chosen: ReturnType<typeof chooseAt> | null; job: unknown },
  result: WriteBackResult,
): Summary {
  const { volume, source, target, chosen, job } = done;
  return {
    data: {
      job,
      source: source.id,
      ...(chosen ? { asOf: chosen.asOf } : {}),
      target,
      method: result.method,
      checksum: result.checksum,
      bytesRead: result.scannedBytes + result.bytesRead,
      bytesWritten: result.bytesWritten,
      before: result.before?.id ?? null,
      seconds: result.seconds,
    },
    lines: [
      ...(chosen ? [choseLine(chosen)] : []),
      `recovered ${volume} from ${source.id} to ${target} (${result.checksum}) in ${result.seconds.toFixed(2)} s`,
      ...(result.method === 'full' ? [] : [writtenLine(result, source.sizeBytes)]),
    ],
  };
}

/** How a write-back went: its method, what it read and wrote, and the snapshot that keeps what it overwrote. */
function writtenLine(result: WriteBackResult, sizeBytes: number): string {
  const read = result.scannedBytes + result.bytesRead;
  const kept = result.before ? `; snapshot ${result.before.id} keeps what it overwrote` : '';
  return `${result.method}: read ${read} bytes, wrote ${result.bytesWritten} of ${sizeBytes}${kept}`;
}

/** What one recovery's job works with. */
interface RecoverRun {
  ctx: Context;
  job: JobRecorder;
  data: CatalogData;
  source: Source;
  attempt: Attempt;
  /** the volume, when it is the target itself (and a snapshot of it may be taken first) */
  volume: Volume | null;
  full: boolean;
  /** the killed recovery job this one finishes */
  resumes: string | null;
}

/** The killed job's row says which job finishes it; said while that row is still live. */
async function noteResume(ctx: Context, job: JobRecorder, old: string): Promise<void> {
  job.set({ resumes: old });
  await ctx.catalog.update((catalog) => {
    const row = catalog.jobs.find((j) => j.id === old);
    if (row) row.warnings.push(`resumed by job ${job.id} (qrv show ${job.id} says how it ended)`);
  });
}

/** A recovery's job: the target checked, the job begun, the target opened once and written back. */
async function recoverInJob(run: RecoverRun, target: string, ask: TargetAsk): Promise<WriteBackResult> {
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
  if (run.resumes) await noteResume(ctx, job, run.resumes);
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
    if (source.archive) {
      const copy = await restoreArchive(ctx, job, source.archive, { target, handle, fresh: ask.st === null });
      return { ...copy, scannedBytes: 0, before: null, why: null };
    }
    const { volume, full } = run;
    return await writeBack({ ctx, job, source, target, kind, handle, volume, existing: ask.st !== null, full });
  } finally {
    await handle.close().catch(() => undefined);
  }
}
