// Human forms of catalog rows: one-line summaries, the `list` tables and the `show` details.
import type { AppObject, ArchiveRow, Job, Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import type { CopyResult } from '../copy/block-copy.ts';
import { formatBytes } from '../core/duration.ts';
import { idOf } from '../writers/writer.ts';
import { formatMs } from './printer.ts';

export function snapshotLine(s: Snapshot): string {
  const window =
    s.quiesce === 'none'
      ? `made in ${formatMs(s.suspendedMs)}, nothing frozen`
      : `I/O suspended ${formatMs(s.suspendedMs)}`;
  return `${s.id} of ${s.volume} ${s.state}, ${formatBytes(s.sizeBytes)}, ${s.method || 'not made'}, ${window}${s.state === 'ready' ? `, ${s.consistency}` : ''}`;
}

export function copyLines(q: Qrv, copy: CopyResult): string[] {
  const rate = copy.bytesRead / 1e6 / Math.max(copy.seconds, 1e-6);
  return [
    `qrv ${q.id} of ${q.volume} ${q.state} at ${q.destination}, reflects ${q.snapshotId}`,
    `copied ${formatBytes(copy.bytesRead)} in ${copy.seconds.toFixed(2)} s (${rate.toFixed(0)} MB/s), wrote ${formatBytes(copy.bytesWritten)}, checksum ${copy.checksum}`,
  ];
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

export const short = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export function volumeTable(volumes: Volume[]): string[] {
  return table(
    ['NAME', 'PROVIDER', 'SIZE', 'POLICY', 'PATH'],
    volumes.map((v) => [v.name, v.provider, formatBytes(v.sizeBytes), v.policy ?? '-', v.path]),
  );
}

/** The ids of the application objects a row records, for a table's last column ("-": none). */
function objectIds(objects: AppObject[] | undefined): string {
  return objects?.length ? objects.map((o) => idOf(o.writer, o.instance, o.name)).join(', ') : '-';
}

/**
 * `qrv list` (and with `long`, `qrv list --long`: how each point in time was obtained, the freeze
 * window, and the application objects it holds).
 */
export function snapshotTable(snapshots: Snapshot[], long = false): string[] {
  if (!long) {
    return table(
      ['SNAPSHOT', 'VOLUME', 'CREATED', 'PERSISTS UNTIL', 'STATE', 'SIZE', 'METHOD', 'LABEL'],
      snapshots.map((s) => [
        s.id,
        s.volume,
        short(s.createdAt),
        s.pinned ? 'pinned' : short(s.persistUntil),
        s.state,
        formatBytes(s.sizeBytes),
        s.method || '-',
        s.label ?? '',
      ]),
    );
  }
  return table(
    [
      'SNAPSHOT',
      'VOLUME',
      'CREATED',
      'PERSISTS UNTIL',
      'STATE',
      'SIZE',
      'METHOD',
      'CONSISTENCY',
      'QUIESCE',
      'SUSPENDED',
      'GROUP',
      'LABEL',
      'OBJECTS',
    ],
    snapshots.map((s) => [
      s.id,
      s.volume,
      short(s.createdAt),
      s.pinned ? 'pinned' : short(s.persistUntil),
      s.state,
      formatBytes(s.sizeBytes),
      s.method || '-',
      s.consistency,
      s.quiesce,
      formatMs(s.suspendedMs),
      s.groupId,
      s.label ?? '',
      objectIds(s.objects),
    ]),
  );
}

/** `qrv list`'s QRVs; with `long`, the application objects of the snapshot each reflects. */
export function qrvTable(qrvs: Qrv[], long = false): string[] {
  return table(
    ['QRV', 'VOLUME', 'REFLECTS', 'UPDATED', 'STATE', 'SIZE', 'DESTINATION', ...(long ? ['OBJECTS'] : [])],
    qrvs.map((q) => [
      q.id,
      q.volume,
      q.snapshotId,
      short(q.updatedAt),
      q.state,
      formatBytes(q.sizeBytes),
      q.destination,
      ...(long ? [objectIds(q.objects)] : []),
    ]),
  );
}

/**
 * `qrv show`'s application objects of a snapshot or QRV: each one's id, where its writer stood,
 * the names of the files kept with it (backup_label) and its paths on the host.
 */
export function objectLines(objects: AppObject[]): string[] {
  if (!objects.length) return ['objects: -'];
  return [
    'objects:',
    ...table(
      ['  OBJECT', 'POSITION', 'KEPT', 'PATHS'],
      objects.map((o) => [
        `  ${idOf(o.writer, o.instance, o.name)}`,
        o.position ?? '-',
        Object.keys(o.files).sort().join(', ') || '-',
        o.paths.join(', '),
      ]),
    ),
  ];
}

export function archiveTable(archives: ArchiveRow[]): string[] {
  return table(
    ['GENERATION', 'VOLUME', 'FROM', 'POINT IN TIME', 'STATE', 'SIZE', 'SENT', 'STORE'],
    archives.map((a) => [
      a.id,
      a.volume,
      a.sourceId,
      short(a.pointInTime),
      a.state,
      formatBytes(a.sizeBytes),
      formatBytes(a.bytesSent),
      a.store,
    ]),
  );
}

/** Every field of a row, one `key: value` a line (nested values as JSON). */
export function details(row: object): string[] {
  return Object.entries(row).map(
    ([key, value]) =>
      `${key}: ${value === null ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
  );
}

export function jobLines(job: Job): string[] {
  const head = details({ ...job, steps: [] } as Job).filter((line) => !line.startsWith('steps:'));
  const steps = job.steps.map((s) => `  ${s.state.padEnd(7)} ${s.name}${s.detail ? `: ${s.detail}` : ''}`);
  return [...head, 'steps:', ...steps];
}
