// A volume a recovery was writing over when it was killed holds part of the copy and part of what
// it held before: no point in time. Such a recovery can be finished (`qrv recover --resume`,
// `qrv doctor --fix`); until then a snapshot of the volume is refused (it would keep that mix).
import type { CatalogData, Job } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { jobAlive, processGone } from './job-recorder.ts';

/** Why a job's recovery cannot be resumed, or null when it can. */
export function recoveryResumeBlocker(data: CatalogData, job: Job): string | null {
  if (job.kind !== 'recover') return `job ${job.id} is a ${job.kind} job, not a recovery`;
  if (job.state === 'succeeded') return `job ${job.id} finished its recovery`;
  if (jobAlive(job)) return `job ${job.id} is still running (process ${job.pid})`;
  const from = job.qrvId ?? job.snapshotId;
  if (!from || !job.destination) return `job ${job.id} recovered from an archive generation: run it again`;
  // the row is written as the write-back step begins (src/services/write-back.ts)
  if (!job.steps.some((step) => step.name === 'write back')) return `job ${job.id} stopped before it wrote anything`;
  if (!data.volumes.some((v) => v.name === job.volume)) return `volume ${job.volume} is gone`;
  const later = data.jobs.find(
    (other) =>
      other.id !== job.id &&
      other.kind === 'recover' &&
      other.destination === job.destination &&
      other.startedAt >= job.startedAt,
  );
  if (later) return `job ${later.id} recovered onto ${job.destination} after it`;
  const source = job.qrvId
    ? data.qrvs.find((q) => q.id === job.qrvId)
    : data.snapshots.find((s) => s.id === job.snapshotId);
  if (!source || source.state !== 'ready') return `${from} is ${source ? source.state : 'gone'}`;
  return null;
}

/** Killed (its process gone, or stopped by a signal or abandoned), not failed by an error of its own. */
export function killedJob(job: Job): boolean {
  return (
    processGone(job) ||
    (job.state === 'failed' && (job.error?.code === 'interrupted' || job.error?.code === 'abandoned'))
  );
}

/** A recovery that was killed while it wrote and can still be finished (doctor's resumable-recovery). */
export function killedRecovery(data: CatalogData, job: Job): boolean {
  return job.kind === 'recover' && killedJob(job) && recoveryResumeBlocker(data, job) === null;
}

/** The killed recovery that left the volume half written and can still be finished, if any. */
export function halfRecoveredBy(data: CatalogData, volume: { name: string; path: string }): Job | null {
  return (
    data.jobs.find(
      (job) => job.volume === volume.name && job.destination === volume.path && killedRecovery(data, job),
    ) ?? null
  );
}

/**
 * Refuses what would change an instant recovery under the kernel while it copies: a snapshot or
 * another recovery of the volume, writing or removing the QRV it reads (`qrvId`: only that one),
 * promoting a QRV of the volume, removing it.
 */
export function refuseWhileHydrating(data: CatalogData, name: string, what: string, qrvId?: string): void {
  const row = data.volumes.find((v) => v.name === name)?.hydration;
  if (!row || (qrvId !== undefined && row.qrv !== qrvId)) return;
  throw new QrvError(
    'refused',
    'volume-hydrating',
    `${what}: volume ${name} is being recovered from ${row.qrv} (instant recovery), which the kernel reads while it copies`,
    'wait for the copy to finish: qrv recover --status',
  );
}

/**
 * Refuses to snapshot a volume a killed recovery left half written, or one whose instant recovery
 * is still copying (its device is a mirror of qrv's: a snapshot would reload its table).
 */
export function refuseHalfRecovered(data: CatalogData, volume: { name: string; path: string }): void {
  refuseWhileHydrating(data, volume.name, `cannot snapshot volume ${volume.name}, a mirror while the copy runs`);
  const job = halfRecoveredBy(data, volume);
  if (!job) return;
  throw new QrvError(
    'refused',
    'volume-half-recovered',
    `volume ${volume.name} holds part of ${job.qrvId ?? job.snapshotId} and part of what it held before: recovery job ${job.id} was killed while it wrote; a snapshot would keep that mix`,
    `finish the recovery first: qrv recover --resume ${job.id} (or qrv doctor --fix)`,
  );
}
