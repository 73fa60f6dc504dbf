// `qrv recover VOLUME --from QRV --instant` of a file volume: where the QRV and the image share a
// filesystem that can reflink (XFS, btrfs), the image is made a clone of the QRV (FICLONE: constant
// time, whatever the size; no byte is copied, the blocks are shared until one side writes). Anywhere
// else that cannot be instant, and qrv says why and writes back only what differs instead (the
// incremental write-back of `qrv recover --force`).
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import type { Context } from '../engine/context.ts';
import { withJob } from '../engine/job-recorder.ts';
import { namedTarget, openChecked } from '../engine/destination.ts';
import type { Volume } from '../catalog/schema.ts';
import type { Summary } from '../output/printer.ts';
import { canClone } from '../providers/file/clone.ts';
import { checkTarget, recover, type sourceOf } from './recover.ts';

type Source = Awaited<ReturnType<typeof sourceOf>>;

const fdPath = (fd: number): string => `/proc/${process.pid}/fd/${fd}`;

/** Why the image cannot be a clone of the QRV, or null when it can. */
async function whyNotClone(volume: Volume, source: Source): Promise<string | null> {
  const [image, qrv] = await Promise.all([fs.stat(volume.path), fs.stat(source.path)]);
  if (image.dev !== qrv.dev) return `${source.id} is on another filesystem than ${volume.path}`;
  // a clone of the QRV beside it: the filesystem both are on can reflink
  if (!(await canClone(source.path, path.dirname(source.path))))
    return `the filesystem of ${volume.path} cannot reflink (ext4 cannot; XFS with reflink=1 and btrfs can)`;
  return null;
}

export async function instantFile(ctx: Context, volume: Volume, source: Source): Promise<Summary> {
  const why = await whyNotClone(volume, source);
  if (why) {
    ctx.reporter.warn(`cannot recover ${volume.name} instantly: ${why}; writing back only what differs instead`);
    const summary = await recover(ctx, { volume: volume.name, from: source.id, force: true });
    return { ...summary, data: { ...summary.data, instant: false, why } };
  }
  const data = await ctx.catalog.read();
  const planned = await namedTarget(volume.path);
  const ask = { volume: volume.name, target: planned.target, st: planned.st, isVolume: true, force: true };
  const { job } = await withJob(ctx, 'recover', volume.name, async (job) => {
    job.set({ destination: volume.path, qrvId: source.id });
    await job.step('recover', 'check target', () =>
      checkTarget(data, ctx.catalog.home, { ...ask, sizeBytes: source.sizeBytes }),
    );
    await job.begin();
    await job.step(
      'recover',
      'clone',
      () => cloneOver(ctx, volume, source, planned.st),
      () => `${volume.path} is a reflink clone of ${source.id}`,
    );
  });
  // from the command: qrv's own start included
  const seconds = process.uptime();
  return {
    data: { job, source: source.id, method: 'reflink', usableSeconds: seconds, finished: true, bytesWritten: 0 },
    lines: [
      `recovered ${volume.name} from ${source.id}: ${volume.path} is a reflink clone of it (${seconds.toFixed(2)} s; no byte copied)`,
    ],
  };
}

/** FICLONE of the QRV over the image, through descriptors opened as checked; the image keeps its mode. */
async function cloneOver(
  ctx: Context,
  volume: Volume,
  source: Source,
  planned: Awaited<ReturnType<typeof namedTarget>>['st'],
): Promise<void> {
  const data = await ctx.catalog.read();
  const target = await openChecked(
    data,
    ctx.catalog.home,
    { path: volume.path, kind: 'file', planned, role: 'target' },
    'target',
    { volume: volume.name },
  );
  const qrv = await fs.open(source.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const mode = (await target.stat()).mode & 0o7777;
    await fs.copyFile(fdPath(qrv.fd), fdPath(target.fd), constants.COPYFILE_FICLONE_FORCE);
    await target.chmod(mode);
    await target.sync();
  } finally {
    await Promise.all([qrv.close(), target.close()]);
  }
}
