// What leaves catalog.json for the history store: the rows of what is finished, except the few
// that live commands still read. Decided from the data alone (tested exactly), so that every
// catalog write keeps the file as large as what exists, and a v1-v4 catalog is brought down to
// size by its first write.
//   jobs: every running one; per kind and volume the newest finished one, the newest that
//         succeeded and up to FAILED_KEPT failed ones newer than that (`qrv check` reports those);
//         a stopped copy that can still be resumed (its QRV is copying or failed).
//   snapshots: removed ones, except the newest removed one of each volume (`qrv check` dates a
//         volume's newest snapshot by it when its snapshots are removed after their copy), and
//         those a QRV reflects (its point in time is the snapshot's).
//   QRVs: their update entries beyond the newest QRV_UPDATES_KEPT.
import type { HistoryRecord } from './history.ts';
import type { CatalogData, Job } from './schema.ts';
import { compareText } from '../core/text.ts';

export const FAILED_KEPT = 3;
export const QRV_UPDATES_KEPT = 5;

function jobsToMove(data: CatalogData): Set<Job> {
  const resumable = new Set(data.qrvs.filter((q) => q.state === 'copying' || q.state === 'failed').map((q) => q.id));
  const groups = new Map<string, Job[]>();
  for (const job of data.jobs) {
    const key = `${job.kind}\0${job.volume}`;
    const group = groups.get(key);
    if (group) group.push(job);
    else groups.set(key, [job]);
  }
  const move = new Set<Job>();
  for (const group of groups.values()) {
    group.sort((a, b) => compareText(b.startedAt, a.startedAt));
    let newestFinished = false;
    let succeeded = false;
    let failedKept = 0;
    for (const job of group) {
      if (job.state === 'running') continue;
      if (job.progress !== null && job.qrvId !== null && resumable.has(job.qrvId)) continue;
      const keep = !newestFinished || (!succeeded && (job.state === 'succeeded' || failedKept < FAILED_KEPT));
      newestFinished = true;
      if (job.state === 'failed' && !succeeded) failedKept += 1;
      if (job.state === 'succeeded') succeeded = true;
      if (!keep) move.add(job);
    }
  }
  return move;
}

/**
 * Splits `data`: the rows that go to history are taken out and returned as records. Its
 * collections are replaced by new arrays where something moved, and a row that loses part of
 * itself by a new row: no row object is changed (other holders may share them).
 */
export function takeFinished(data: CatalogData): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  const moveJobs = jobsToMove(data);
  if (moveJobs.size) {
    for (const job of moveJobs)
      records.push({ id: job.id, at: job.endedAt ?? job.startedAt, kind: 'job', volume: job.volume, row: job });
    data.jobs = data.jobs.filter((job) => !moveJobs.has(job));
  }
  const newestRemoved = new Map<string, CatalogData['snapshots'][number]>();
  for (const s of data.snapshots) {
    if (s.state !== 'removed') continue;
    const best = newestRemoved.get(s.volume);
    if (!best || s.createdAt > best.createdAt) newestRemoved.set(s.volume, s);
  }
  const keptRemoved = new Set(newestRemoved.values());
  const reflected = new Set(data.qrvs.map((q) => q.snapshotId));
  const moveSnapshots = data.snapshots.filter(
    (s) => s.state === 'removed' && !keptRemoved.has(s) && !reflected.has(s.id),
  );
  if (moveSnapshots.length) {
    for (const s of moveSnapshots)
      records.push({ id: s.id, at: s.removedAt ?? s.createdAt, kind: 'snapshot', volume: s.volume, row: s });
    const moved = new Set(moveSnapshots);
    data.snapshots = data.snapshots.filter((s) => !moved.has(s));
  }
  if (data.qrvs.some((qrv) => qrv.history.length > QRV_UPDATES_KEPT)) {
    data.qrvs = data.qrvs.map((qrv) => {
      if (qrv.history.length <= QRV_UPDATES_KEPT) return qrv;
      const old = qrv.history.slice(0, qrv.history.length - QRV_UPDATES_KEPT);
      for (const entry of old)
        records.push({
          id: `${qrv.id}:${entry.jobId}`,
          at: entry.at,
          kind: 'qrv-update',
          volume: qrv.volume,
          row: { qrvId: qrv.id, ...entry },
        });
      return { ...qrv, history: qrv.history.slice(-QRV_UPDATES_KEPT) };
    });
  }
  return records;
}
