// The right pane's text for the selected item, as lines: what it is, its details (a copy's times,
// size and method; an entry's size, mode, owner, mtime, symlink target) and what it contains.
import type { CatalogData } from '../../catalog/schema.ts';
import { formatBytes } from '../../core/duration.ts';
import { hostNames } from '../../system/users.ts';
import { modeString } from '../../browse/names.ts';
import type { FsEntry } from '../../browse/types.ts';
import { copiesOf, subclientsOf, type CopyRow } from './tree.ts';
import { groupState, instancesOf, objectCopiesOf, objectName } from './apps.ts';
import type { CopyOfObject, Node } from './model.ts';
import { cell, field, fit, shortTime } from './text.ts';

export interface Line {
  text: string;
  tone?: 'title' | 'dim' | 'error';
  /** cut into several rows instead of ending in "…" */
  wrap?: boolean;
}

/** The contents of the selected folder, once read (or why it could not be). */
export interface Preview {
  key: string;
  entries?: FsEntry[];
  error?: string;
}

let names: ReturnType<typeof hostNames> | null = null;
const owner = (entry: FsEntry) => {
  names ??= hostNames();
  return `${names.user(entry.uid)}:${names.group(entry.gid)} (${entry.uid}:${entry.gid})`;
};

const title = (text: string): Line => ({ text, tone: 'title' });
const dim = (text: string): Line => ({ text, tone: 'dim' });
const plain = (text: string): Line => ({ text });

/** A table of copies that fits 48 columns: id, point in time, persists until (day), size, method. */
export function copyTable(copies: CopyRow[]): Line[] {
  if (!copies.length) return [dim('no ready snapshots or QRVs')];
  const row = (c: string[]) =>
    `${cell(c[0] ?? '', 10)} ${cell(c[1] ?? '', 11)} ${cell(c[2] ?? '', 7)} ${cell(c[3] ?? '', 8)} ${fit(c[4] ?? '', 8)}`;
  return [
    dim(row(['ID', 'HOLDS', 'UNTIL', 'SIZE', 'METHOD'])),
    ...copies.map((c) =>
      plain(
        row([
          c.id,
          c.pointInTime ? shortTime(c.pointInTime).slice(5, 16) : '?',
          c.kind === 'qrv'
            ? '(qrv)'
            : c.kind === 'archive'
              ? '(archive)'
              : c.pinned
                ? 'pinned'
                : c.persistUntil
                  ? shortTime(c.persistUntil).slice(5, 10)
                  : 'forever',
          formatBytes(c.sizeBytes),
          c.method,
        ]),
      ),
    ),
  ];
}

export function copyDetails(copy: CopyRow): Line[] {
  const what = { snapshot: 'snapshot', qrv: 'QRV', archive: 'archive generation' }[copy.kind];
  const lines = [title(`${copy.id}  ${what} of ${copy.volume}`)];
  if (copy.kind === 'snapshot') {
    lines.push(
      plain(field('created', shortTime(copy.createdAt))),
      plain(
        field(
          'persists until',
          copy.pinned
            ? `${copy.persistUntil ? shortTime(copy.persistUntil) : 'forever'} (pinned)`
            : copy.persistUntil
              ? shortTime(copy.persistUntil)
              : 'forever',
        ),
      ),
      plain(field('size', formatBytes(copy.sizeBytes))),
      plain(field('method', copy.method)),
      plain(field('consistency', copy.consistency ?? '?')),
      plain(field('label', copy.label ?? '-')),
      plain(field('copied to', copy.related ?? '-')),
    );
  } else {
    lines.push(
      plain(field('holds state of', `${shortTime(copy.pointInTime)} (${copy.related ?? '?'})`)),
      plain(field('created', shortTime(copy.createdAt))),
      plain(field('updated', shortTime(copy.updatedAt))),
      plain(field('persists until', copy.kind === 'archive' ? 'its retention grid (`qrv prune`)' : '`qrv remove`')),
      plain(field('size', formatBytes(copy.sizeBytes))),
      plain(field('method', copy.method)),
      plain(field('consistency', copy.consistency ?? '?')),
    );
  }
  lines.push(
    plain(field('data', copy.path)),
    dim(''),
    dim(
      copy.kind === 'snapshot'
        ? '⏎ browse files · p persistence · d delete'
        : copy.kind === 'archive'
          ? '⏎ browse files (fetched into the cache the first time)'
          : '⏎ browse files',
    ),
  );
  return lines;
}

export function entryDetails(entry: FsEntry): Line[] {
  const lines = [
    title(entry.path),
    plain(field('type', entry.type)),
    plain(
      field(
        'size',
        entry.rdev
          ? `device ${entry.rdev.major}, ${entry.rdev.minor}`
          : `${formatBytes(entry.size)}${entry.size >= 1024 ? ` (${entry.size} bytes)` : ''}`,
      ),
    ),
    plain(field('mode', `${modeString(entry.mode)} (${(entry.mode & 0o7777).toString(8).padStart(4, '0')})`)),
    plain(field('owner', owner(entry))),
    plain(field('modified', shortTime(entry.mtime))),
    plain(field('inode', `${entry.inode}, ${entry.links} link${entry.links === 1 ? '' : 's'}`)),
  ];
  if (entry.type === 'symlink') lines.push(plain(field('target', entry.target ?? '(unreadable)')));
  return lines;
}

function contents(preview: Preview | null, key: string): Line[] {
  if (!preview || preview.key !== key) return [dim('reading…')];
  if (preview.error !== undefined) return [{ text: preview.error, tone: 'error', wrap: true }];
  const entries = preview.entries ?? [];
  if (!entries.length) return [dim('(empty)')];
  return [
    dim(`contains ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}:`),
    ...entries.map((e) =>
      plain(
        `${modeString(e.mode)} ${formatBytes(e.size).padStart(9)}  ${e.name}${e.type === 'dir' ? '/' : ''}${e.type === 'symlink' ? ` -> ${e.target ?? '?'}` : ''}`,
      ),
    ),
  ];
}

/** An object as a copy recorded it: where its writer stood, the files kept, where its paths were. */
function objectRecordLines(object: CopyOfObject['record']): Line[] {
  const places = object.places ?? [];
  return [
    plain(field('position', object.position ?? '-')),
    plain(field('kept', Object.keys(object.files).sort().join(', ') || '-')),
    ...object.paths.map((p, i) => {
      const place = places.find((q) => q.path === p);
      return plain(field(i === 0 ? 'paths' : '', `${p}${place ? ` (${place.volume}:${place.inside})` : ''}`));
    }),
  ];
}

/** A copy under an application object: what of the object it holds, its group, where ⏎ opens it. */
export function objectCopyDetails(copy: CopyRow, object: CopyOfObject, data: CatalogData): Line[] {
  const what = { snapshot: 'snapshot', qrv: 'QRV', archive: 'archive generation' }[copy.kind];
  const group = groupState(data, object.id, copy);
  return [
    title(`${copy.id}  ${what} of ${copy.volume}`),
    plain(field('object', object.id)),
    plain(field('holds state of', shortTime(copy.pointInTime))),
    ...objectRecordLines(object.record),
    group.copies
      ? { text: field('whole object', group.copies), wrap: true }
      : { text: field('whole object', `no: ${group.why ?? '?'}`), tone: 'error' as const, wrap: true },
    plain(field('consistency', copy.consistency ?? '?')),
    dim(''),
    dim(
      `⏎ browse files at ${copy.volume}:${object.at}${copy.kind === 'snapshot' ? ' · p persistence · d delete' : ''}`,
    ),
  ];
}

/** The applications level, an instance and an object (their rows as the catalog recorded them). */
function appDetails(node: Extract<Node, { kind: 'apps' | 'instance' | 'object' }>, data: CatalogData): Line[] {
  const instances = instancesOf(data);
  if (node.kind === 'apps')
    return [
      title('applications'),
      plain(field('instances', String(instances.length))),
      dim(''),
      ...instances.map((i) => plain(`${i.id}  ${i.objects.length} object${i.objects.length === 1 ? '' : 's'}`)),
      dim(''),
      dim('as snapshots recorded them (sub-clients with --object)'),
    ];
  if (node.kind === 'instance') {
    const objects = instances.find((i) => i.id === node.name)?.objects ?? [];
    return [
      title(`instance ${node.name}`),
      plain(field('objects', String(objects.length))),
      dim(''),
      ...objects.map((id) => plain(`${objectName(node.name, id)}  ${objectCopiesOf(data, id).length} copies`)),
    ];
  }
  const copies = objectCopiesOf(data, node.id);
  const newest = copies[0];
  return [
    title(node.id),
    ...(newest ? [dim(`newest copy, ${newest.copy.id}:`), ...objectRecordLines(newest.record)] : []),
    dim(''),
    ...copyTable(copies.map((c) => c.copy)),
  ];
}

/** Everything the right pane shows for `node`. */
export function detailLines(
  node: Node | undefined,
  data: CatalogData,
  preview: Preview | null,
  previewKey: string,
): Line[] {
  if (!node) return [dim('nothing here'), dim('(backspace goes up; / filters; t jumps to a time)')];
  switch (node.kind) {
    case 'host': {
      const subs = subclientsOf(data);
      return [
        title(`host ${node.name}`),
        plain(field('sub-clients', String(subs.length))),
        plain(field('volumes', String(data.volumes.length))),
        plain(field('snapshots', String(data.snapshots.filter((s) => s.state === 'ready').length))),
        plain(field('QRVs', String(data.qrvs.filter((q) => q.state === 'ready').length))),
        ...(instancesOf(data).length ? [plain(field('applications', `${instancesOf(data).length} instances`))] : []),
      ];
    }
    case 'apps':
    case 'instance':
    case 'object':
      return appDetails(node, data);
    case 'subclient': {
      const sub = subclientsOf(data).find((s) => s.name === node.name);
      return [
        title(`sub-client ${node.name}`),
        plain(field('policy', sub?.policy ?? '-')),
        plain(field('volumes', String(sub?.volumes.length ?? 0))),
        dim(''),
        ...(sub?.volumes ?? []).map((v) => plain(`${v}  ${copiesOf(data, v).length} copies`)),
      ];
    }
    case 'volume': {
      const volume = data.volumes.find((v) => v.name === node.name);
      return [
        title(`volume ${node.name}`),
        plain(field('provider', volume?.provider ?? '?')),
        plain(field('path', volume?.path ?? '?')),
        plain(field('size', formatBytes(volume?.sizeBytes ?? 0))),
        plain(field('policy', volume?.policy ?? '-')),
        dim(''),
        ...copyTable(copiesOf(data, node.name)),
      ];
    }
    case 'copy':
      return node.object ? objectCopyDetails(node.copy, node.object, data) : copyDetails(node.copy);
    case 'entry': {
      const lines = entryDetails(node.entry);
      if (node.entry.type !== 'dir') return [...lines, dim(''), dim('r recovers it')];
      return [...lines, dim(''), ...contents(preview, previewKey)];
    }
  }
}
