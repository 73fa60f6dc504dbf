// The browser's navigation state, as plain data and pure functions: a stack of open levels
// (host → sub-client → volume → copy → folders, or host → applications → instance → object →
// copy → folders), each with its items, the selection and a filter.
import type { AppObject, CatalogData } from '../../catalog/schema.ts';
import type { FsEntry } from '../../browse/types.ts';
import { APPLICATIONS, hasApplications, instancesOf, objectCopiesOf, objectName } from './apps.ts';
import { copiesOf, subclientOfVolume, subclientsOf, type CopyRow } from './tree.ts';
import { shortTime } from './text.ts';

/** A copy listed under an application object: opened at the object's first path (`at`). */
export interface CopyOfObject {
  id: string;
  record: AppObject;
  at: string;
}

export type Node =
  | { kind: 'host'; name: string }
  | { kind: 'subclient'; name: string }
  | { kind: 'volume'; name: string }
  | { kind: 'apps'; name: string }
  /** a writer's instance: "postgresql:main" */
  | { kind: 'instance'; name: string }
  /** `name` under its instance ("billing"), `id` in full ("postgresql:main/billing") */
  | { kind: 'object'; name: string; id: string }
  | { kind: 'copy'; copy: CopyRow; object?: CopyOfObject }
  | { kind: 'entry'; copyId: string; volume: string; entry: FsEntry };

/** One open level: `node` is what was entered, `items` what it holds. */
export interface Frame {
  node: Node;
  items: Node[];
  /** index into the filtered items */
  selected: number;
  filter: string;
}

/** The name a node is filtered by. */
export function nodeName(node: Node): string {
  switch (node.kind) {
    case 'copy':
      return node.copy.id;
    case 'entry':
      return node.entry.name;
    default:
      return node.name;
  }
}

/** The label in the left pane: names, a copy's id and time, `/` after folders and `@` after symlinks. */
export function nodeLabel(node: Node): string {
  switch (node.kind) {
    case 'copy':
      return `${node.copy.id} ${node.copy.pointInTime ? shortTime(node.copy.pointInTime).slice(5, 16) : '?'}`;
    case 'entry':
      return `${node.entry.name}${node.entry.type === 'dir' ? '/' : node.entry.type === 'symlink' ? '@' : ''}`;
    default:
      return node.name;
  }
}

export function nodeKey(node: Node): string {
  switch (node.kind) {
    case 'copy':
      return `copy:${node.copy.id}`;
    case 'entry':
      return `entry:${node.copyId}:${node.entry.path}`;
    default:
      return `${node.kind}:${node.name}`;
  }
}

export function visibleItems(frame: Frame): Node[] {
  if (!frame.filter) return frame.items;
  const wanted = frame.filter.toLowerCase();
  return frame.items.filter((item) => nodeName(item).toLowerCase().includes(wanted));
}

export function selectedNode(frame: Frame | undefined): Node | undefined {
  return frame ? visibleItems(frame)[frame.selected] : undefined;
}

const clamp = (value: number, count: number) => Math.max(0, Math.min(count - 1, value));

export function moveSelection(frame: Frame, delta: number): Frame {
  const count = visibleItems(frame).length;
  return count ? { ...frame, selected: clamp(frame.selected + delta, count) } : frame;
}

export function withFilter(frame: Frame, filter: string): Frame {
  return { ...frame, filter, selected: 0 };
}

/** The first `height` rows to show so that the selection stays in view. */
export function windowOf(count: number, selected: number, height: number): { start: number; end: number } {
  if (count <= height) return { start: 0, end: count };
  const start = Math.max(0, Math.min(count - height, selected - Math.floor(height / 2)));
  return { start, end: start + height };
}

export function frameOf(node: Node, items: Node[], selectedKey?: string): Frame {
  const at = selectedKey === undefined ? -1 : items.findIndex((item) => nodeKey(item) === selectedKey);
  return { node, items, selected: Math.max(0, at), filter: '' };
}

export function subclientItems(data: CatalogData): Node[] {
  return subclientsOf(data).map((s) => ({ kind: 'subclient', name: s.name }));
}

/** The host's items: its sub-clients, and the applications level once a row records an object. */
export function hostItems(data: CatalogData): Node[] {
  return [...subclientItems(data), ...(hasApplications(data) ? [{ kind: 'apps', name: APPLICATIONS } as const] : [])];
}

export function instanceItems(data: CatalogData): Node[] {
  return instancesOf(data).map((i) => ({ kind: 'instance', name: i.id }));
}

export function objectItems(data: CatalogData, instance: string): Node[] {
  return (instancesOf(data).find((i) => i.id === instance)?.objects ?? []).map((id) => ({
    kind: 'object',
    name: objectName(instance, id),
    id,
  }));
}

export function objectCopyItems(data: CatalogData, object: string): Node[] {
  return objectCopiesOf(data, object).map(({ copy, record, at }) => ({
    kind: 'copy',
    copy,
    object: { id: object, record, at },
  }));
}

export function volumeItems(data: CatalogData, subclient: string): Node[] {
  return (subclientsOf(data).find((s) => s.name === subclient)?.volumes ?? []).map((name) => ({
    kind: 'volume',
    name,
  }));
}

export function copyItems(data: CatalogData, volume: string): Node[] {
  return copiesOf(data, volume).map((copy) => ({ kind: 'copy', copy }));
}

export function entryItems(copy: CopyRow, entries: FsEntry[]): Node[] {
  return entries.map((entry) => ({ kind: 'entry', copyId: copy.id, volume: copy.volume, entry }));
}

/** The levels down to a volume's copies (host, its sub-client, the volume), `select` chosen in the last. */
export function framesToVolume(
  data: CatalogData,
  host: string,
  volume: string,
  subclient = subclientOfVolume(data, volume),
  select?: string,
): Frame[] {
  const hostNode: Node = { kind: 'host', name: host };
  const subNode: Node = { kind: 'subclient', name: subclient };
  const volNode: Node = { kind: 'volume', name: volume };
  return [
    frameOf(hostNode, hostItems(data), nodeKey(subNode)),
    frameOf(subNode, volumeItems(data, subclient), nodeKey(volNode)),
    frameOf(volNode, copyItems(data, volume), select === undefined ? undefined : `copy:${select}`),
  ];
}

export function initialFrames(data: CatalogData, host: string, volume?: string, select?: string): Frame[] {
  if (volume !== undefined) return framesToVolume(data, host, volume, undefined, select);
  return [frameOf({ kind: 'host', name: host }, hostItems(data))];
}

/** The copy the stack is inside, if any. */
export function openCopy(frames: Frame[]): CopyRow | null {
  for (const frame of frames) if (frame.node.kind === 'copy') return frame.node.copy;
  return null;
}

/** The folder shown inside a copy ("/" at its root), or null outside copies. */
export function folderOf(frames: Frame[]): string | null {
  const last = frames.at(-1)?.node;
  if (!last) return null;
  if (last.kind === 'copy') return '/';
  if (last.kind === 'entry') return last.entry.path;
  return null;
}

/** The volume the stack or the selection is about (for `t`), if any. */
export function volumeOf(frames: Frame[]): string | null {
  for (const frame of frames) {
    if (frame.node.kind === 'volume') return frame.node.name;
  }
  const selected = selectedNode(frames.at(-1));
  return selected?.kind === 'volume' ? selected.name : null;
}

/**
 * The application object the stack is in or the selection is (for `t`), if any, and how many
 * frames stand above its own level of copies.
 */
export function objectOf(frames: Frame[]): { node: Extract<Node, { kind: 'object' }>; depth: number } | null {
  const depth = frames.findIndex((frame) => frame.node.kind === 'object');
  const inside = frames[depth]?.node;
  if (inside?.kind === 'object') return { node: inside, depth };
  const selected = selectedNode(frames.at(-1));
  return selected?.kind === 'object' ? { node: selected, depth: frames.length } : null;
}

/** The sub-client the stack is in, if any. */
export function subclientOf(frames: Frame[]): string | undefined {
  for (const frame of frames) if (frame.node.kind === 'subclient') return frame.node.name;
  return undefined;
}

/** The fresh items of a level that lists copies (a volume's, an object's), or null for other levels. */
function copyLevelItems(node: Node, data: CatalogData): Node[] | null {
  if (node.kind === 'volume') return copyItems(data, node.name);
  if (node.kind === 'object') return objectCopyItems(data, node.id);
  return null;
}

/** After the catalog changed (persistence, a deletion): fresh copy rows, the selection kept by key where it can be. */
export function refreshFrames(frames: Frame[], data: CatalogData): Frame[] {
  return frames.map((frame) => {
    const items = copyLevelItems(frame.node, data);
    if (items) {
      const key = (() => {
        const node = selectedNode(frame);
        return node ? nodeKey(node) : undefined;
      })();
      const fresh = { ...frame, items };
      const at = visibleItems(fresh).findIndex((item) => nodeKey(item) === key);
      return { ...fresh, selected: at >= 0 ? at : clamp(frame.selected, Math.max(1, visibleItems(fresh).length)) };
    }
    if (frame.node.kind === 'copy') {
      const { copy, object } = frame.node;
      const row = copiesOf(data, copy.volume).find((c) => c.id === copy.id);
      return row ? { ...frame, node: { kind: 'copy', copy: row, ...(object ? { object } : {}) } } : frame;
    }
    return frame;
  });
}
