// `qrv recover VOLUME --from ID --path P... [--from ID2 --path P3...] [--to DIR] [--force]`:
// file-level recovery (F12). Files, folders and symlinks from snapshots or QRVs (read through
// src/browse/, without root for ext2/3/4) back into the mounted volume at their original place,
// or under --to DIR. The safety rules are in src/browse/restore.ts. One `recover` job row records
// it (written when the first file is about to be restored: a refusal changes nothing).
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
import { bytesUnder, restorePath, unsafeTypedPath, type Restored, type Skipped } from '../browse/restore.ts';
import { loopDevicesBackedBy } from '../system/block-device.ts';
import { mountpointsOf } from '../system/freeze.ts';
import { browseSource, type BrowseSource } from './browse.ts';
import { describeHolder, holdersOf } from '../engine/protected.ts';

export interface FileSource {
  /** a snapshot or QRV id, or… */
  from?: string;
  /** …the copy `qrv resolve VOLUME --as-of T` chooses */
  asOf?: string;
  paths: string[];
}

export interface RecoverFilesRequest {
  volume: string;
  sources: FileSource[];
  to?: string;
  force: boolean;
  via?: Via;
}

export type OrderedOption = { option: 'from' | 'as-of' | 'path'; value: string };

/** `--from A --path 1 --path 2 --as-of T --path 3` → each --path with the --from/--as-of before it. */
export function groupSources(order: OrderedOption[]): FileSource[] {
  const sources: FileSource[] = [];
  for (const { option, value } of order) {
    if (option === 'path') {
      const current = sources.at(-1);
      if (!current)
        throw new QrvError(
          'usage',
          'usage',
          `--path ${value} comes before any --from: each --path belongs to the --from (or --as-of) before it`,
          'e.g. `qrv recover web --from s-1a2b3c4d5e6f --path /etc/app.conf`',
        );
      current.paths.push(value);
    } else sources.push(option === 'from' ? { from: value, paths: [] } : { asOf: value, paths: [] });
  }
  const empty = sources.find((s) => s.paths.length === 0);
  if (empty)
    throw new QrvError(
      'usage',
      'usage',
      `${empty.from !== undefined ? `--from ${empty.from}` : `--as-of ${empty.asOf}`} has no --path after it`,
      'give the files to restore from it with --path after it, e.g. `--from s-1a2b3c4d5e6f --path /etc/app.conf`',
    );
  return sources;
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

// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
export async function recoverFiles(ctx: Context, request: RecoverFilesRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const volume = findVolume(data, request.volume);
  if (!request.sources.length)
    throw new QrvError(
      'usage',
      'usage',
      'name a source with --from ID (or --as-of T) and the files with --path after it',
      'e.g. `qrv recover web --from s-1a2b3c4d5e6f --path /etc/app.conf`',
    );
  // Every source is checked before anything is written.
  const sources: Array<{ source: BrowseSource; paths: string[] }> = request.sources.map((s) => {
    const source = browseSource(
      data,
      {
        ...(s.from !== undefined ? { id: s.from } : { volume: volume.name, asOf: s.asOf as string }),
        ...(request.via ? { via: request.via } : {}),
      },
      ctx.now(),
    );
    if (source.volume !== volume.name)
      throw new QrvError(
        'refused',
        'wrong-volume',
        `${source.id} is a copy of "${source.volume}", not "${volume.name}"`,
        `restore into "${source.volume}", or pick a copy of "${volume.name}" from \`qrv list --volume ${volume.name}\``,
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

  let target: string;
  let create = false;
  if (request.to !== undefined) {
    const folder = await targetFolder(request.to);
    target = folder.folder;
    create = !folder.exists;
  } else {
    const point = await mountpointOfVolume(volume.path);
    if (!point)
      throw new QrvError(
        'refused',
        'volume-not-mounted',
        `${volume.name} (${volume.path}) is not mounted, and files go back into its mounted filesystem`,
        'mount it, or give --to DIR to restore the files into a folder',
      );
    target = await fs.realpath(point);
  }

  const owners = process.getuid?.() === 0;
  // The same rule as a volume-level target: nothing of qrv's is replaced (hard links included).
  const protectedAs = async (st: Stats): Promise<string | null> => {
    if (st.isDirectory() || st.isSymbolicLink()) return null;
    const holder = (await holdersOf(data, ctx.catalog.home, null, st))[0];
    return holder ? describeHolder(holder) : null;
  };
  const restored: Restored[] = [];
  const skipped: Skipped[] = [];
  const first = sources[0]?.source;
  // A --to folder made here and left empty (nothing restored, or the job failed) is removed again.
  const dropIfEmpty = async () => {
    if (create && restored.length === 0) await fs.rmdir(target).catch(() => undefined);
  };
  const { job } = await withJob(ctx, 'recover', volume.name, async (job) => {
    job.set({
      destination: target,
      ...(first ? (first.kind === 'qrv' ? { qrvId: first.id } : { snapshotId: first.id }) : {}),
    });
    await job.begin();
    if (create) {
      await fs.mkdir(target, { recursive: true });
      target = await fs.realpath(target);
    }
    for (const { source, paths } of sources) {
      await job.step(
        'recover',
        `restore files from ${source.id}`,
        () =>
          withReader(
            source.path,
            { label: source.id, ...(request.via ? { via: request.via } : {}) },
            async (reader) => {
              // Progress counts bytes handled: restored, or skipped (so that it ends at 100%).
              const sizes: number[] = [];
              for (const wanted of paths) sizes.push(await bytesUnder(reader, wanted));
              const meter = new ProgressMeter(
                ctx.reporter,
                'recover',
                sizes.reduce((a, b) => a + b, 0),
              );
              let before = 0;
              meter.update(0, true);
              const counts = { restored: 0, skipped: 0 };
              for (const [i, wanted] of paths.entries()) {
                const outcome = await restorePath(reader, wanted, target, {
                  force: request.force,
                  owners,
                  protectedAs,
                  onBytes: (bytes) => meter.update(before + bytes),
                });
                before += sizes[i] ?? 0;
                restored.push(...outcome.restored);
                skipped.push(...outcome.skipped);
                counts.restored += outcome.restored.length;
                counts.skipped += outcome.skipped.length;
              }
              meter.finish(before);
              return { ...counts, method: reader.method };
            },
          ),
        (r) => `${r.restored} restored${r.skipped ? `, ${r.skipped} skipped` : ''}, read by ${r.method}`,
      );
    }
  }).finally(dropIfEmpty);

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
      job,
      volume: volume.name,
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
