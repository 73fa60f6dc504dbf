// `qrv recover VOLUME --from ID --path P... [--from ID2 --path P3...] [--to DIR] [--force]`:
// file-level recovery (F12). Files, folders and symlinks from snapshots or QRVs (read through
// src/browse/, without root for ext2/3/4) back into the mounted volume at their original place,
// or under --to DIR. The safety rules are in src/browse/restore.ts. One `recover` job row records
// it (written when the first file is about to be restored: a refusal changes nothing).
import { groupSources, type FileSource, type OrderedOption } from './arguments.ts';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError, errnoCode } from '../core/errors.ts';
import { ProgressMeter } from '../core/events.ts';
import type { Context } from '../engine/context.ts';
import { withJob } from '../engine/job-recorder.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { withReader, type Via } from '../browse/open.ts';
import type { FilesystemReader } from '../browse/types.ts';
import type { CatalogData, Job } from '../catalog/schema.ts';
import { bytesUnder, restorePath, unsafeTypedPath, type Restored, type Skipped } from '../browse/restore.ts';
import { loopDevicesBackedBy } from '../system/block-device.ts';
import { mountpointsOf } from '../system/freeze.ts';
import { browseSource, readablePath, type BrowseSource } from './browse.ts';
import { describeHolder, holdersOf } from '../engine/protected.ts';

export { groupSources, type FileSource, type OrderedOption };

export interface RecoverFilesRequest {
  volume: string;
  sources: FileSource[];
  to?: string;
  force: boolean;
  via?: Via;
}

/** Where the volume's filesystem is mounted on this host (a device, or an image through a loop device). */
async function mountpointOfVolume(volumePath: string): Promise<string | null> {
  const st = await fs.stat(volumePath).catch(() => null);
  const devices = st?.isBlockDevice() ? [volumePath] : st?.isFile() ? await loopDevicesBackedBy(volumePath) : [];
  const points = devices.length ? await mountpointsOf(devices) : [];
  return points[0] ?? null;
}

/** The --to folder, checked (made only once the job has begun: a refusal changes nothing). */
async function targetFolder(to: string): Promise<{ folder: string; exists: boolean }> {
  const wanted = path.resolve(to);
  const st = await fs.stat(wanted).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  });
  if (st && !st.isDirectory())
    throw new QrvError(
      'refused',
      'target-not-folder',
      `${wanted} is not a folder; files are restored into a folder`,
      'give --to an existing or new folder (never the image or device itself)',
    );
  // The folder given is trusted (it may be reached through a symlink); below it nothing is followed.
  return { folder: st ? await fs.realpath(wanted) : wanted, exists: Boolean(st) };
}

const shortTime = (iso: string | null | undefined): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'unknown time';

export async function recoverFiles(ctx: Context, request: RecoverFilesRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const volume = findVolume(data, request.volume);
  const sources = checkedSources(ctx, data, volume.name, request);
  const place = await restoreTarget(volume.path, volume.name, request.to);
  const owners = process.getuid?.() === 0;
  // The same rule as a volume-level target: nothing of qrv's is replaced (hard links included).
  const protectedAs = async (st: Stats): Promise<string | null> => {
    if (st.isDirectory() || st.isSymbolicLink()) return null;
    const holder = (await holdersOf(data, ctx.catalog.home, null, st))[0];
    return holder ? describeHolder(holder) : null;
  };
  const done: { restored: Restored[]; skipped: Skipped[] } = { restored: [], skipped: [] };
  const first = sources[0]?.source;
  // A --to folder made here and left empty (nothing restored, or the job failed) is removed again.
  const dropIfEmpty = async () => {
    if (place.create && done.restored.length === 0) await fs.rmdir(place.target).catch(() => undefined);
  };
  const { job } = await withJob(ctx, 'recover', volume.name, async (job) => {
    job.set({
      destination: place.target,
      ...(first ? (first.kind === 'qrv' ? { qrvId: first.id } : { snapshotId: first.id }) : {}),
    });
    await job.begin();
    if (place.create) {
      await fs.mkdir(place.target, { recursive: true });
      place.target = await fs.realpath(place.target);
    }
    const how: RestoreHow = { ctx, target: place.target, force: request.force, owners, protectedAs, done };
    for (const { source, paths } of sources) {
      await job.step(
        'recover',
        `restore files from ${source.id}`,
        async () =>
          withReader(
            await readablePath(ctx, source),
            { label: source.id, ...(request.via ? { via: request.via } : {}) },
            (reader) => restoreFrom(reader, paths, how),
          ),
        (r) => `${r.restored} restored${r.skipped ? `, ${r.skipped} skipped` : ''}, read by ${r.method}`,
      );
    }
  }).finally(dropIfEmpty);
  return filesSummary({ job, volume: volume.name, target: place.target, sources, owners, ...done });
}

/** Every source of the request, checked before anything is written, with the paths to take from it. */
function checkedSources(
  ctx: Context,
  data: CatalogData,
  volume: string,
  request: RecoverFilesRequest,
): Array<{ source: BrowseSource; paths: string[] }> {
  if (!request.sources.length)
    throw new QrvError(
      'usage',
      'usage',
      'name a source with --from ID (or --as-of T) and the files with --path after it',
      'e.g. `qrv recover web --from s-1a2b3c4d5e6f --path /etc/app.conf`',
    );
  const sources = request.sources.map((s) => {
    const source = browseSource(
      data,
      {
        ...(s.from !== undefined ? { id: s.from } : { volume, asOf: s.asOf as string }),
        ...(request.via ? { via: request.via } : {}),
      },
      ctx.now(),
    );
    if (source.volume !== volume)
      throw new QrvError(
        'refused',
        'wrong-volume',
        `${source.id} is a copy of "${source.volume}", not "${volume}"`,
        `restore into "${source.volume}", or pick a copy of "${volume}" from \`qrv list --volume ${volume}\``,
      );
    return { source, paths: s.paths };
  });
  // A path that can never be restored is refused now, before the job row and the --to folder.
  for (const wanted of request.sources.flatMap((s) => s.paths)) {
    const why = unsafeTypedPath(wanted);
    if (why)
      throw new QrvError(
        'usage',
        'bad-path',
        `--path "${wanted}" is refused: ${why}`,
        'give the path as it is inside the copy, e.g. /etc/app.conf',
      );
  }
  return sources;
}

/** Where the files go: the --to folder (made by the job when it does not exist), or the volume's mounted filesystem. */
async function restoreTarget(
  volumePath: string,
  volumeName: string,
  to: string | undefined,
): Promise<{ target: string; create: boolean }> {
  if (to !== undefined) {
    const folder = await targetFolder(to);
    return { target: folder.folder, create: !folder.exists };
  }
  const point = await mountpointOfVolume(volumePath);
  if (!point)
    throw new QrvError(
      'refused',
      'volume-not-mounted',
      `${volumeName} (${volumePath}) is not mounted, and files go back into its mounted filesystem`,
      'mount it, or give --to DIR to restore the files into a folder',
    );
  return { target: await fs.realpath(point), create: false };
}

/** How files are restored, and the lists every source adds what it restored and skipped to. */
interface RestoreHow {
  ctx: Context;
  target: string;
  force: boolean;
  owners: boolean;
  protectedAs: (st: Stats) => Promise<string | null>;
  done: { restored: Restored[]; skipped: Skipped[] };
}

/** The paths of one source restored through its reader; progress counts bytes handled (restored or skipped). */
async function restoreFrom(
  reader: FilesystemReader,
  paths: string[],
  how: RestoreHow,
): Promise<{ restored: number; skipped: number; method: string }> {
  const sizes: number[] = [];
  for (const wanted of paths) sizes.push(await bytesUnder(reader, wanted));
  const meter = new ProgressMeter(
    how.ctx.reporter,
    'recover',
    sizes.reduce((a, b) => a + b, 0),
  );
  let before = 0;
  meter.update(0, true);
  const counts = { restored: 0, skipped: 0 };
  for (const [i, wanted] of paths.entries()) {
    const outcome = await restorePath(reader, wanted, how.target, {
      force: how.force,
      owners: how.owners,
      protectedAs: how.protectedAs,
      onBytes: (bytes) => meter.update(before + bytes),
    });
    before += sizes[i] ?? 0;
    how.done.restored.push(...outcome.restored);
    how.done.skipped.push(...outcome.skipped);
    counts.restored += outcome.restored.length;
    counts.skipped += outcome.skipped.length;
  }
  meter.finish(before);
  return { ...counts, method: reader.method };
}

function filesSummary(result: {
  job: Job;
  volume: string;
  target: string;
  sources: Array<{ source: BrowseSource }>;
  owners: boolean;
  restored: Restored[];
  skipped: Skipped[];
}): Summary {
  const { restored, skipped, target, sources, owners } = result;
  const bytes = restored.reduce((sum, r) => sum + r.bytes, 0);
  const lines = [
    ...restored.map(
      (r) =>
        `restored ${r.path} -> ${r.to}${r.type === 'file' ? ` (${r.bytes} bytes)` : r.type === 'dir' ? ' (folder)' : ' (symlink)'}`,
    ),
    ...skipped.map((s) => `skipped  ${s.path}: ${s.reason}`),
    `${restored.length} restored (${bytes} bytes), ${skipped.length} skipped, into ${target} from ${sources.map(({ source }) => `${source.id} (${shortTime(source.pointInTime)})`).join(', ')}${owners ? '' : '; owners not restored (not root): the files belong to you'}`,
  ];
  return {
    data: {
      job: result.job,
      volume: result.volume,
      target,
      restored,
      skipped,
      sources: sources.map(({ source }) => ({ id: source.id, pointInTime: source.pointInTime })),
      owners: owners ? 'restored' : 'kept',
    },
    lines,
    ...(skipped.length ? { exit: 'partial' as const } : {}),
  };
}
