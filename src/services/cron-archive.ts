// What `qrv cron` archives (issue 14): for each volume whose policy has --archive-to, one
// generation of its newest point in time (a ready snapshot, else a ready QRV) that is newer than
// the newest generation in that store, at most once per --archive-every. A generation of the
// volume whose send failed or was killed is resumed first instead (nothing that arrived is sent
// again). Decided from catalog data and a clock alone.
import type { ArchiveRow, CatalogData } from '../catalog/schema.ts';
import { parseDuration } from '../core/duration.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { policyFor } from '../policy/resolve.ts';
import { compareText } from '../core/text.ts';

export type DueArchive =
  | { volume: string; store: string; sourceId: string; resume?: undefined }
  | { volume: string; store: string; resume: string; sourceId?: undefined };

function unfinished(data: CatalogData, row: ArchiveRow): boolean {
  if (row.state === 'failed') return true;
  const job = data.jobs.find((j) => j.id === row.jobId);
  return row.state === 'sending' && (!job || !jobAlive(job));
}

/** The newest point in time of the volume that could be archived: its id and when it was taken. */
function newestSource(data: CatalogData, volume: string): { id: string; at: string } | null {
  const taken = new Map(data.snapshots.map((s) => [s.id, s.createdAt] as const));
  const candidates = [
    ...data.snapshots
      .filter((s) => s.volume === volume && s.state === 'ready')
      .map((s) => ({ id: s.id, at: s.createdAt })),
    ...data.qrvs
      .filter((q) => q.volume === volume && q.state === 'ready' && taken.has(q.snapshotId))
      .map((q) => ({ id: q.id, at: taken.get(q.snapshotId)! })),
  ];
  // the newest point in time; of a snapshot and a QRV of the same one, the snapshot (no second read of a QRV)
  candidates.sort((a, b) => compareText(b.at, a.at) || compareText(a.id, b.id));
  return candidates[0] ?? null;
}

export function dueArchives(data: CatalogData, now: Date): DueArchive[] {
  const due: DueArchive[] = [];
  for (const volume of data.volumes) {
    const policy = policyFor(data, volume);
    const store = policy?.archiveTo;
    if (!store || !data.stores.some((s) => s.name === store)) continue;
    const rows = data.archives.filter((a) => a.volume === volume.name && a.store === store);
    const stuck = rows.find((row) => unfinished(data, row));
    if (stuck) {
      due.push({ volume: volume.name, store, resume: stuck.jobId });
      continue;
    }
    const ready = rows.filter((a) => a.state === 'ready' || a.state === 'sending');
    const newest = ready.sort((a, b) => compareText(b.pointInTime, a.pointInTime))[0];
    const source = newestSource(data, volume.name);
    if (!source || (newest && source.at <= newest.pointInTime)) continue;
    const every = policy.archiveEvery ? parseDuration(policy.archiveEvery, '--archive-every') : null;
    if (newest && every !== null && now.getTime() - Date.parse(newest.createdAt) < every) continue;
    due.push({ volume: volume.name, store, sourceId: source.id });
  }
  return due;
}
