// Which schedules a volume is snapshotted on, and how many of a schedule's runs passed between two
// times: what `qrv check` (./check.ts) judges a volume's newest snapshot against.
import type { Cron } from 'croner';
import type { CatalogData, Policy, Volume } from '../catalog/schema.ts';

/** Counting stops here, so that a per-second schedule over years cannot stall the check. */
export const MAX_COUNTED_RUNS = 1000;

/** The latest of the dates. */
export const latest = (...dates: Date[]) => new Date(Math.max(...dates.map((d) => d.getTime())));

/** Scheduled run times strictly between `since` and `now` (at most `limit`). */
export function runsBetween(cron: Cron, since: Date, now: Date, limit = MAX_COUNTED_RUNS): number {
  let n = 0;
  for (let at = cron.nextRun(since); at && at.getTime() < now.getTime() && n < limit; at = cron.nextRun(at)) n += 1;
  return n;
}

export interface VolumeSchedule {
  expression: string;
  policy: string;
  /** the sub-client it comes through, or null for the volume's own policy */
  subclient: string | null;
  /** when the rule began to apply to the volume: the latest of the volume's, policy's and sub-client's creation */
  since: Date;
}

/**
 * The schedules a volume is snapshotted on: its own policy's, if that policy has one; else those of
 * the policies of every sub-client that holds it and has a scheduled policy.
 */
export function schedulesOf(data: CatalogData, volume: Volume): VolumeSchedule[] {
  const policy = (name: string | null): Policy | undefined =>
    name === null ? undefined : data.policies.find((p) => p.name === name);
  const added = new Date(volume.addedAt);
  const own = policy(volume.policy);
  if (own?.schedule)
    return [
      { expression: own.schedule, policy: own.name, subclient: null, since: latest(added, new Date(own.createdAt)) },
    ];
  const found: VolumeSchedule[] = [];
  for (const subclient of data.subclients) {
    if (!subclient.volumes.includes(volume.name)) continue;
    const p = policy(subclient.policy);
    if (p?.schedule)
      found.push({
        expression: p.schedule,
        policy: p.name,
        subclient: subclient.name,
        since: latest(added, new Date(p.createdAt), new Date(subclient.createdAt)),
      });
  }
  return found;
}
