// Opening a copy at a path: the frames of its folders down to the path, as far as the copy has
// them (a time jump keeps the folder it was in; a copy of an application object opens at the
// object's data folder or at its database file).
import type { Located } from '../../browse/types.ts';
import { entryItems, frameOf, type Frame, type Node } from './model.ts';
import type { BrowseSession } from './session.ts';
import type { EntryNode } from './state.ts';

/** Folders of `copy` down to `path`, as far as they exist, each as a frame; a file on the way is selected. */
export async function foldersTo(
  session: BrowseSession,
  copyNode: Extract<Node, { kind: 'copy' }>,
  path: string,
): Promise<Frame[]> {
  const copy = copyNode.copy;
  const out: Frame[] = [frameOf(copyNode, entryItems(copy, await session.list(copy.id, '/')))];
  for (const part of path.split('/').filter(Boolean)) {
    const parent = out.at(-1) as Frame;
    const child = parent.items.find((item): item is EntryNode => item.kind === 'entry' && item.entry.name === part);
    if (!child) break;
    parent.selected = parent.items.indexOf(child);
    // A file (an SQLite database) is selected in its folder.
    if (child.entry.type !== 'dir') break;
    let entries: Located[];
    try {
      entries = await session.list(copy.id, child.entry.path);
    } catch {
      break;
    }
    out.push(frameOf(child, entryItems(copy, entries)));
  }
  return out;
}
