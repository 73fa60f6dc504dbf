// The applications level of `qrv browse` (F13), as pure functions of catalog data: host →
// applications → writers' instances → objects → the copies that hold an object, from what the
// snapshot and QRV rows recorded (no server is asked while browsing). A copy of an object is a
// copy of the volume that holds the object's first path (a cluster's data folder, a database
// file), opened at that path.
import type { AppObject, CatalogData } from '../../catalog/schema.ts';
import { parseTime } from '../../core/time.ts';
import { chooseObjectAt, heldObject, resolveObjectAt, type ObjectResolution } from '../../services/resolve-object.ts';
import { idOf } from '../../writers/writer.ts';
import { copiesOf, type CopyRow } from './tree.ts';

/** The name of the host's applications level. */
export const APPLICATIONS = 'applications';

export interface InstanceRow {
  /** "postgresql:main", "sqlite:/srv/app" */
  id: string;
  writer: string;
  instance: string;
  /** its objects' ids, by name */
  objects: string[];
}

/** Every object record of the rows that hold one: snapshots (not failed or unfinished) and QRVs. */
function records(data: CatalogData): AppObject[] {
  return [
    ...data.snapshots.filter((s) => s.state !== 'failed' && s.state !== 'creating').flatMap((s) => s.objects),
    ...data.qrvs.filter((q) => q.state !== 'failed').flatMap((q) => q.objects ?? []),
  ];
}

/** The writers' instances the catalog's rows record, with their objects; sorted by id. */
export function instancesOf(data: CatalogData): InstanceRow[] {
  const byId = new Map<string, InstanceRow>();
  for (const o of records(data)) {
    const id = `${o.writer}:${o.instance}`;
    const row = byId.get(id) ?? { id, writer: o.writer, instance: o.instance, objects: [] };
    const object = idOf(o.writer, o.instance, o.name);
    if (!row.objects.includes(object)) row.objects.push(object);
    byId.set(id, row);
  }
  const rows = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  for (const row of rows) row.objects.sort((a, b) => a.localeCompare(b));
  return rows;
}

/** Whether the host has an applications level: some row records an object. */
export function hasApplications(data: CatalogData): boolean {
  return records(data).length > 0;
}

/** "billing" of "postgresql:main/billing", "app.db" of "sqlite:/srv/app/app.db": an object's name under its instance. */
export function objectName(instance: string, object: string): string {
  return object.slice(instance.length).replace(/^\//, '');
}

export interface ObjectCopy {
  copy: CopyRow;
  /** the object as that copy's snapshot recorded it */
  record: AppObject;
  /** where to open the copy: the object's first path inside the volume ("/" when not recorded) */
  at: string;
}

/** The place of the object's first path: its volume and the path inside that volume's filesystem. */
export function firstPlace(record: AppObject): { volume: string; inside: string } | null {
  const places = record.places ?? [];
  return places.find((p) => p.path === record.paths[0]) ?? places[0] ?? null;
}

/**
 * The ready copies that hold object `id`, newest point in time first: the snapshots that recorded
 * it and the QRVs that reflect one, of the volume holding its first path (of every volume that
 * recorded it, when its rows do not say where its paths were).
 */
export function objectCopiesOf(data: CatalogData, id: string): ObjectCopy[] {
  const recordOf = new Map<string, AppObject>();
  const volumes = new Set<string>();
  for (const row of [...data.snapshots, ...data.qrvs]) {
    const record = heldObject({ objects: row.objects ?? [] }, id);
    if (!record) continue;
    recordOf.set(row.id, record);
    volumes.add(row.volume);
  }
  const out: ObjectCopy[] = [];
  for (const volume of [...volumes].sort((a, b) => a.localeCompare(b)))
    for (const copy of copiesOf(data, volume)) {
      const record = recordOf.get(copy.id);
      const place = record ? firstPlace(record) : null;
      if (!record || (place && place.volume !== volume)) continue;
      out.push({ copy, record, at: place?.inside ?? '/' });
    }
  const time = (c: ObjectCopy) => (c.copy.pointInTime ? Date.parse(c.copy.pointInTime) : 0);
  // Stable: at one time, the order copiesOf gave (snapshots before QRVs).
  return out.sort((a, b) => time(b) - time(a));
}

/** The group a copy's snapshot (a QRV: the one it reflects) belongs to, if the catalog still has it. */
export function groupOfCopy(data: CatalogData, copy: CopyRow): string | null {
  const snapshotId = copy.kind === 'qrv' ? copy.related : copy.id;
  return data.snapshots.find((s) => s.id === snapshotId)?.groupId ?? null;
}

/**
 * Whether the copy's group holds the whole object (a copy of every volume it spans: `qrv resolve`
 * would choose it for its own point in time), and the copies it would be read from; or why not.
 */
export function groupState(
  data: CatalogData,
  id: string,
  copy: CopyRow,
): { copies: string | null; why: string | null } {
  const group = groupOfCopy(data, copy);
  if (!group || !copy.pointInTime) return { copies: null, why: 'its snapshot group is no longer in the catalog' };
  const r: ObjectResolution = resolveObjectAt(data, id, new Date(copy.pointInTime));
  if (r.chosen?.groupId === group)
    return { copies: r.chosen.copies.map((c) => `${c.volume} from ${c.id}`).join(', '), why: null };
  return { copies: null, why: r.passedOver.find((p) => p.groupId === group)?.reason ?? 'not usable' };
}

/** `t` at an object: the copy (of its first path's volume) in the group `qrv resolve` chooses for `text`. */
export function jumpToObjectTime(data: CatalogData, id: string, text: string, now: Date): { id: string; line: string } {
  const r = chooseObjectAt(data, id, parseTime(text, now, 'the time').toISOString(), now);
  const place = firstPlace(r.chosen.record);
  const copy = r.chosen.copies.find((c) => c.volume === place?.volume) ?? r.chosen.copies[0];
  const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return {
    id: copy?.id ?? '',
    line: `${id} as of ${when(r.asOf)}: ${copy?.id ?? '?'} of group ${r.chosen.groupId}, taken ${when(r.chosen.pointInTime)}`,
  };
}
