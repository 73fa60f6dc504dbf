// Finding rows of the catalog by name or id, with the one-line "not found" errors every command
// shares.
import type { ArchiveRow, CatalogData, Job, Qrv, Snapshot, Volume } from './schema.ts';
import { QrvError, errorCode } from '../core/errors.ts';

/** A row by name, or the one-line "no X named" error that names the known ones (or how to add one). */
export function findNamed<T extends { name: string }>(rows: T[], name: string, kind: string, howToAdd: string): T {
  const row = rows.find((r) => r.name === name);
  if (!row) {
    const known = rows.map((r) => r.name);
    throw new QrvError(
      'notFound',
      errorCode(`unknown-${kind.replace(/[^a-z]/g, '')}`),
      `no ${kind} named "${name}"`,
      known.length
        ? `known ${kind.endsWith('y') ? `${kind.slice(0, -1)}ies` : `${kind}s`}: ${known.join(', ')}`
        : howToAdd,
    );
  }
  return row;
}

export function findVolume(data: CatalogData, name: string): Volume {
  return findNamed(data.volumes, name, 'volume', 'add one with `qrv volume add NAME --provider file --path IMAGE`');
}

export function findSnapshot(data: CatalogData, id: string): Snapshot {
  const snapshot = data.snapshots.find((row) => row.id === id);
  if (!snapshot)
    throw new QrvError('notFound', 'unknown-snapshot', `no snapshot with id "${id}"`, 'list snapshots with `qrv list`');
  return snapshot;
}

export function findQrv(data: CatalogData, id: string): Qrv {
  const qrv = data.qrvs.find((row) => row.id === id);
  if (!qrv) throw new QrvError('notFound', 'unknown-qrv', `no QRV with id "${id}"`, 'list QRVs with `qrv list`');
  return qrv;
}

export function findArchive(data: CatalogData, id: string): ArchiveRow {
  const row = data.archives.find((a) => a.id === id);
  if (!row)
    throw new QrvError(
      'notFound',
      'unknown-archive',
      `no archive generation with id "${id}"`,
      'list them with `qrv list`; a store qrv does not know of is read with `qrv store scan`',
    );
  return row;
}

export function findJob(data: CatalogData, id: string): Job {
  const job = data.jobs.find((row) => row.id === id);
  if (!job)
    throw new QrvError(
      'notFound',
      'unknown-job',
      `no job with id "${id}"`,
      'job ids start with j-; `qrv show` a snapshot or QRV names its job',
    );
  return job;
}

/** A snapshot that can be read: made, not removed. */
export function readableSnapshot(data: CatalogData, id: string): Snapshot {
  const snapshot = findSnapshot(data, id);
  if (snapshot.state !== 'ready') {
    throw new QrvError(
      'refused',
      'snapshot-not-ready',
      `snapshot ${id} is ${snapshot.state}, not ready`,
      'pick a ready snapshot from `qrv list`',
    );
  }
  return snapshot;
}

/** A QRV that can be read: copied, not removed or promoted; `hint` says what to do instead. */
export function readyQrv(data: CatalogData, id: string, hint = 'pick a ready QRV from `qrv list`'): Qrv {
  const qrv = findQrv(data, id);
  if (qrv.state !== 'ready')
    throw new QrvError('refused', 'qrv-not-ready', `QRV ${id} is ${qrv.state}, not ready`, hint);
  return qrv;
}

export function idTaken(data: CatalogData): (id: string) => boolean {
  return (id) =>
    data.snapshots.some((row) => row.id === id) ||
    data.qrvs.some((row) => row.id === id) ||
    data.jobs.some((row) => row.id === id) ||
    data.archives.some((row) => row.id === id);
}
