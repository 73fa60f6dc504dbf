// Doctor's findings about instant recoveries (src/services/instant.ts): a copy that is done but
// not finished (the qrv that waited for it was killed), one a reboot stopped (its mirror is gone:
// `qrv volume activate` makes it again), one whose mirror lost a leg. A copy under way is fine.
import type { CatalogData, HydrationRow } from '../catalog/schema.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { open, type Planned } from './doctor-findings.ts';
import { dropUnattached, finishOne, progressOf, reattach } from './instant.ts';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { helperJobs, removeHelpers } from '../providers/hydrate/hydration.ts';

export async function hydrationFindings(ctx: Context, data: CatalogData, notes: string[]): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const volume of data.volumes) {
    const row = volume.hydration as HydrationRow | undefined;
    // the qrv waiting for the copy finishes it itself
    if (!row || data.jobs.some((j) => j.id === row.job && jobAlive(j))) continue;
    const progress = await progressOf(row).catch((error: Error) => error);
    const about = `the instant recovery of ${volume.name} from ${row.qrv} (job ${row.job})`;
    if (progress instanceof Error) {
      planned.push({
        finding: open('failed-hydration', volume.name, `${about}: ${progress.message}`, 'nothing: see the message'),
        fix: () => Promise.reject(progress),
      });
    } else if (progress.state === 'synced' || progress.state === 'switched') {
      const what = `${about} has copied everything; ${row.device} is still ${progress.state === 'synced' ? 'a mirror' : 'being tidied'}`;
      planned.push({
        finding: open('finished-hydration', volume.name, what, `finish it (qrv recover --status ${volume.name})`),
        fix: () => finishOne(ctx, volume.name),
      });
    } else if (progress.state === 'unattached') {
      const what = `${about} was killed before ${row.device} read the copy: the volume is as it was`;
      planned.push({
        finding: open('stopped-hydration', volume.name, what, 'remove what it made (the recovery can be run again)'),
        fix: () => dropUnattached(ctx, volume.name),
      });
    } else if (progress.state === 'inactive') {
      const what = `${about} was stopped by a reboot: ${row.device} holds part of the copy`;
      planned.push({
        finding: open('stopped-hydration', volume.name, what, `go on with it (qrv volume activate ${volume.name})`),
        fix: () => reattach(volume),
      });
    } else if (progress.state === 'failed') {
      const what = `${about}: a leg of the mirror failed (${progress.status?.legs ?? '?'}); the volume still reads the copy`;
      planned.push({
        finding: open('failed-hydration', volume.name, what, 'nothing: see dmsetup status and the kernel log'),
        fix: () => Promise.reject(new Error('a failed mirror leg needs the admin')),
      });
    } else notes.push(`${about} is copying: ${Math.floor((100 * progress.doneBytes) / progress.sizeBytes)} % done`);
  }
  return [...planned, ...(await orphanFindings(ctx))];
}

/**
 * Helper devices and files of an instant recovery no volume records (its row lost: a catalog put
 * back from a copy, a removal that failed half way). A recovery records its row before it makes
 * anything, so the catalog is read after the devices are listed, and again before a fix.
 */
async function orphanFindings(ctx: Context): Promise<Planned[]> {
  const dir = path.join(ctx.catalog.home, 'hydrate');
  const found = await helperJobs(dir);
  const orphans = (data: CatalogData) => found.filter((job) => !known(data).has(job));
  return orphans(await ctx.catalog.read()).map((job) => ({
    finding: open(
      'leftover',
      job,
      `helper devices or files of instant recovery job ${job} (qrv-hyd-${job}-*, ${dir}/${job}.*), which no volume records`,
      'remove them (a device still in use stays, with an error)',
    ),
    fix: async () => {
      if (!orphans(await ctx.catalog.read()).includes(job))
        throw new QrvError(
          'refused',
          'volume-hydrating',
          `job ${job} is an instant recovery again`,
          'run qrv doctor again',
        );
      await removeHelpers({ id: job, dir });
    },
  }));
}

/** Jobs an instant recovery may still belong to: recorded on a volume, or alive. */
const known = (data: CatalogData): Set<string> =>
  new Set([
    ...data.volumes.flatMap((v) => (v.hydration ? [v.hydration.job] : [])),
    ...data.jobs.filter((j) => jobAlive(j)).map((j) => j.id),
  ]);
