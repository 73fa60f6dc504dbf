// What `qrv browse` (the two-pane terminal browser, src/ui/browse/) shows and decides, as pure
// functions of catalog data: the tree host → sub-clients → volumes → snapshots, QRVs and archive
// generations (read from the home's cache, fetched when first opened), which
// copy a point in time jumps to, and whether the browser may start at all (a terminal).
import type { CatalogData } from '../../catalog/schema.ts';
import { QrvError } from '../../core/errors.ts';
import { parseTime } from '../../core/time.ts';
import { findVolume } from '../../catalog/lookup.ts';
import { nothingAtTime, resolveAt, resolutionLines, type CopyKind, type Resolution } from '../../services/resolve.ts';

/** Volumes that belong to no sub-client are shown under this name. */
export const NO_SUBCLIENT = '(no sub-client)';

export interface SubclientNode {
  name: string;
  policy: string | null;
  volumes: string[];
}

/** The host's sub-clients with their volumes (a volume may be in several), plus the volumes in none. */
export function subclientsOf(data: CatalogData): SubclientNode[] {
  const nodes: SubclientNode[] = [...data.subclients]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => ({ name: s.name, policy: s.policy, volumes: [...s.volumes].sort((a, b) => a.localeCompare(b)) }));
  const member = new Set(data.subclients.flatMap((s) => s.volumes));
  const alone = data.volumes
    .map((v) => v.name)
    .filter((name) => !member.has(name))
    .sort((a, b) => a.localeCompare(b));
  if (alone.length) nodes.push({ name: NO_SUBCLIENT, policy: null, volumes: alone });
  return nodes;
}

/** The sub-client a volume is shown under: the first by name that holds it. */
export function subclientOfVolume(data: CatalogData, volume: string): string {
  return subclientsOf(data).find((s) => s.volumes.includes(volume))?.name ?? NO_SUBCLIENT;
}

export interface CopyRow {
  id: string;
  kind: CopyKind;
  volume: string;
  /** when the row was made: the snapshot taken, the QRV first copied */
  createdAt: string;
  /** the state it holds: a snapshot's createdAt, a QRV's reflected snapshot's createdAt */
  pointInTime: string | null;
  /** snapshots: until when it persists (null: forever); QRVs: always null (kept until `qrv remove`) */
  persistUntil: string | null;
  sizeBytes: number;
  /** snapshots: how the provider made it; QRVs: how the last copy was done */
  method: string;
  /** how its point in time was obtained (a QRV: that of the snapshot it reflects); null when unknown */
  consistency: string | null;
  label: string | null;
  pinned: boolean;
  /** the image file or device holding it */
  path: string;
  /** snapshots: the QRV it was copied to; QRVs: the snapshot it reflects */
  related: string | null;
  /** QRVs: the last update */
  updatedAt: string | null;
}

/** A ready archive generation as a row of the browser (its files are fetched into the cache when opened). */
function archiveCopy(data: CatalogData, volume: string): CopyRow[] {
  return data.archives
    .filter((a) => a.volume === volume && a.state === 'ready')
    .map((a) => ({
      id: a.id,
      kind: 'archive',
      volume,
      createdAt: a.createdAt,
      pointInTime: a.pointInTime,
      persistUntil: null,
      sizeBytes: a.sizeBytes,
      method: `archive in ${a.store}`,
      consistency: a.consistency,
      label: null,
      pinned: false,
      path: `${a.store}: ${a.id}`,
      related: a.sourceId,
      updatedAt: null,
    }));
}

const KIND_ORDER: Record<CopyKind, number> = { snapshot: 0, qrv: 1, archive: 2 };

/** The copies of a volume the browser can open (ready snapshots, QRVs, generations), newest point in time first. */
export function copiesOf(data: CatalogData, volume: string): CopyRow[] {
  const created = new Map(data.snapshots.map((s) => [s.id, s.createdAt] as const));
  const consistencyOfSnapshot = new Map(data.snapshots.map((s) => [s.id, s.consistency] as const));
  const rows: CopyRow[] = [
    ...data.snapshots
      .filter((s) => s.volume === volume && s.state === 'ready')
      .map(
        (s): CopyRow => ({
          id: s.id,
          kind: 'snapshot',
          volume,
          createdAt: s.createdAt,
          pointInTime: s.createdAt,
          persistUntil: s.persistUntil,
          sizeBytes: s.sizeBytes,
          method: s.method || '-',
          consistency: s.consistency,
          label: s.label,
          pinned: s.pinned,
          path: s.path,
          related: s.copiedTo,
          updatedAt: null,
        }),
      ),
    ...data.qrvs
      .filter((q) => q.volume === volume && q.state === 'ready')
      .map(
        (q): CopyRow => ({
          id: q.id,
          kind: 'qrv',
          volume,
          createdAt: q.createdAt,
          pointInTime: created.get(q.snapshotId) ?? null,
          persistUntil: null,
          sizeBytes: q.sizeBytes,
          method: q.history.at(-1)?.method ?? '-',
          consistency: consistencyOfSnapshot.get(q.snapshotId) ?? null,
          label: null,
          pinned: false,
          path: q.destination,
          related: q.snapshotId,
          updatedAt: q.updatedAt,
        }),
      ),
    ...archiveCopy(data, volume),
  ];
  const time = (row: CopyRow) => (row.pointInTime ? Date.parse(row.pointInTime) : 0);
  return rows.sort((a, b) => time(b) - time(a) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.id.localeCompare(b.id));
}

export interface TimeJump {
  /** the copy resolveAt chose */
  id: string;
  kind: CopyKind;
  /** the one line to show: "web as of …: s-…, a snapshot taken …" */
  line: string;
  resolution: Resolution;
}

/** `t` in the browser: the copy of `volume` holding its state at `text` (--as-of syntax); nothing-at-time when none. */
export function jumpToTime(data: CatalogData, volume: string, text: string, now: Date): TimeJump {
  findVolume(data, volume);
  const resolution = resolveAt(data, volume, parseTime(text, now, 'the time'));
  if (!resolution.chosen) throw nothingAtTime(resolution);
  return {
    id: resolution.chosen.id,
    kind: resolution.chosen.kind,
    line: resolutionLines(resolution)[0] as string,
    resolution,
  };
}

export interface Terminal {
  json: boolean;
  stdinTTY: boolean;
  stdoutTTY: boolean;
  term: string | undefined;
}

/** Why the browser cannot run here (not a terminal, or --json), or null when it can. */
export function terminalRefusal(terminal: Terminal): QrvError | null {
  const hint =
    'outside a terminal, list files with `qrv ls ID[:PATH]` (or `qrv ls --volume V --as-of T`) and search them with `qrv find ID PATTERN`';
  if (terminal.json)
    return new QrvError('usage', 'not-a-terminal', 'qrv browse is interactive and has no --json output', hint);
  const missing = [!terminal.stdinTTY ? 'stdin' : null, !terminal.stdoutTTY ? 'stdout' : null].filter(Boolean);
  if (missing.length)
    return new QrvError(
      'usage',
      'not-a-terminal',
      `qrv browse needs a terminal, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not one`,
      hint,
    );
  if (!terminal.term || terminal.term === 'dumb')
    return new QrvError(
      'usage',
      'not-a-terminal',
      `qrv browse needs a terminal that can be redrawn, and TERM is ${terminal.term ? '"dumb"' : 'not set'}`,
      hint,
    );
  return null;
}
