// The browser's behaviour: keys → navigation, prompts and the actions behind r, p, d, / and t,
// each through the session (services). Errors become one line in the status bar; nothing throws
// out of here.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Key } from 'ink';
import type { CatalogData } from '../../catalog/schema.ts';
import { isQrvError } from '../../core/errors.ts';
import type { Located } from '../../browse/types.ts';
import { jumpToTime } from './tree.ts';
import { reduce } from '../ink-printer.tsx';
import type { ViewState } from '../progress-view.tsx';
import type { Preview } from './details.ts';
import {
  entryItems,
  folderOf,
  frameOf,
  framesToVolume,
  copyItems,
  moveSelection,
  nodeKey,
  openCopy,
  refreshFrames,
  selectedNode,
  subclientOf,
  visibleItems,
  volumeItems,
  volumeOf,
  withFilter,
  type Frame,
  type Node,
} from './model.ts';
import type { BrowseSession } from './session.ts';
import { shortTime } from './text.ts';

export interface Status {
  text: string;
  tone: 'info' | 'error';
}

type EntryNode = Extract<Node, { kind: 'entry' }>;

export type Prompt =
  | { kind: 'filter'; text: string }
  | { kind: 'time'; text: string }
  | { kind: 'persist'; text: string; snapshotId: string }
  | { kind: 'recover'; text: string; node: EntryNode }
  | { kind: 'delete'; text: string; snapshotId: string };

export interface Recovery {
  title: string[];
  view: ViewState;
  /** the summary lines once done */
  lines: string[] | null;
  error: string | null;
}

export function errorText(error: unknown): string {
  if (isQrvError(error)) return `${error.message}${error.hint ? ` (${error.hint})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

export interface BrowserInit {
  session: BrowseSession;
  data: CatalogData;
  host: string;
  frames: Frame[];
  status?: Status;
  onQuit: () => void;
}

const EMPTY_VIEW: ViewState = { lines: [], current: null, progress: null };

// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
export function useBrowser(init: BrowserInit) {
  const { session, host, onQuit } = init;
  const [frames, setFrameState] = useState<Frame[]>(init.frames);
  const [data, setData] = useState<CatalogData>(init.data);
  const [status, setStatus] = useState<Status | null>(init.status ?? null);
  const [prompt, setPromptState] = useState<Prompt | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [recovery, setRecoveryState] = useState<Recovery | null>(null);
  // Keys arrive faster than renders (a pasted text is one key per character): handlers read and
  // write the latest state here, synchronously, and the state above only draws it.
  const latest = useRef({
    frames: init.frames,
    prompt: null as Prompt | null,
    busy: null as string | null,
    recovery: null as Recovery | null,
    quitting: false,
  });
  const setFrames = (next: Frame[]) => {
    latest.current.frames = next;
    setFrameState(next);
  };
  const setPrompt = (next: Prompt | null) => {
    latest.current.prompt = next;
    setPromptState(next);
  };
  const setRecovery = (change: (r: Recovery | null) => Recovery | null) => {
    latest.current.recovery = change(latest.current.recovery);
    setRecoveryState(latest.current.recovery);
  };

  const selected = selectedNode(frames.at(-1));
  const previewKey = selected ? nodeKey(selected) : '';

  // The contents of a selected folder, read through the open reader; a late answer for an item no longer selected is dropped.
  useEffect(() => {
    if (selected?.kind !== 'entry' || selected.entry.type !== 'dir') return;
    let current = true;
    session.list(selected.copyId, selected.entry.path).then(
      (entries) => current && setPreview({ key: previewKey, entries }),
      (error: unknown) => current && setPreview({ key: previewKey, error: errorText(error) }),
    );
    return () => {
      current = false;
    };
  }, [previewKey, session]);

  /** Runs an action with a busy note; its error becomes the status line. */
  const act = useCallback(async (note: string, work: () => Promise<void>) => {
    latest.current.busy = note;
    setBusy(note);
    setStatus(null);
    try {
      await work();
    } catch (error) {
      setStatus({ text: errorText(error), tone: 'error' });
    } finally {
      latest.current.busy = null;
      setBusy(null);
    }
  }, []);

  const info = (text: string) => setStatus({ text, tone: 'info' });

  /** Folders of `copy` down to `path`, as far as they exist, each as a frame. */
  const foldersTo = async (copyNode: Extract<Node, { kind: 'copy' }>, path: string): Promise<Frame[]> => {
    const copy = copyNode.copy;
    const out: Frame[] = [frameOf(copyNode, entryItems(copy, await session.list(copy.id, '/')))];
    for (const part of path.split('/').filter(Boolean)) {
      const parent = out.at(-1) as Frame;
      const child = parent.items.find(
        (item): item is EntryNode => item.kind === 'entry' && item.entry.name === part && item.entry.type === 'dir',
      );
      if (!child) break;
      parent.selected = parent.items.indexOf(child);
      let entries: Located[];
      try {
        entries = await session.list(copy.id, child.entry.path);
      } catch {
        break;
      }
      out.push(frameOf(child, entryItems(copy, entries)));
    }
    return out;
  };

  const enter = () => {
    const frames = latest.current.frames;
    const frame = frames.at(-1) as Frame;
    const node = selectedNode(frame);
    if (!node) return;
    switch (node.kind) {
      case 'host':
        return;
      case 'subclient':
        setFrames([...frames, frameOf(node, volumeItems(data, node.name))]);
        return;
      case 'volume':
        setFrames([...frames, frameOf(node, copyItems(data, node.name))]);
        return;
      case 'copy':
        void act(`opening ${node.copy.id}…`, async () => {
          await session.enter(node.copy.id);
          const entries = await session.list(node.copy.id, '/');
          setFrames([...latest.current.frames, frameOf(node, entryItems(node.copy, entries))]);
          info(
            `${node.copy.id}: read by ${session.method === 'mount' ? 'a read-only mount' : 'debugfs (catalog mode)'}`,
          );
        });
        return;
      case 'entry': {
        const copy = openCopy(frames);
        if (!copy) return;
        if (node.entry.type !== 'dir' && node.entry.type !== 'symlink') {
          info(`${node.entry.path}: a ${node.entry.type}; r recovers it`);
          return;
        }
        void act(`reading ${node.entry.path}…`, async () => {
          const entries = await session.list(copy.id, node.entry.path);
          setFrames([...latest.current.frames, frameOf(node, entryItems(copy, entries))]);
        });
      }
    }
  };

  const back = () => {
    const frames = latest.current.frames;
    if (frames.length <= 1) return;
    const leaving = (frames.at(-1) as Frame).node;
    setFrames(frames.slice(0, -1));
    if (leaving.kind === 'copy')
      void session.leave().catch((error: unknown) => setStatus({ text: errorText(error), tone: 'error' }));
  };

  const quit = () => {
    if (latest.current.quitting) return;
    latest.current.quitting = true;
    info('closing…');
    onQuit();
  };

  const submit = (p: Prompt) => {
    setPrompt(null);
    switch (p.kind) {
      case 'filter':
        return;
      case 'time':
        void act(`finding the copy for ${p.text}…`, () => jumpTo(p.text));
        return;
      case 'persist':
        void act(`changing ${p.snapshotId}…`, async () => {
          const summary = await session.setPersistence(p.snapshotId, p.text);
          const until = (summary.data.snapshot as { persistUntil: string | null }).persistUntil;
          const fresh = await session.read();
          setData(fresh);
          setFrames(refreshFrames(latest.current.frames, fresh));
          info(`${p.snapshotId} persists ${until ? `until ${shortTime(until)}` : 'forever'}`);
        });
        return;
      case 'delete':
        if (!/^y(es)?$/i.test(p.text.trim())) {
          info(`${p.snapshotId} not deleted`);
          return;
        }
        void act(`deleting ${p.snapshotId}…`, async () => {
          await session.deleteSnapshot(p.snapshotId);
          const fresh = await session.read();
          setData(fresh);
          setFrames(refreshFrames(latest.current.frames, fresh));
          info(`removed snapshot ${p.snapshotId}`);
        });
        return;
      case 'recover':
        void recover(p.node, p.text.trim());
    }
  };

  const jumpTo = async (text: string) => {
    const frames = latest.current.frames;
    const volume = volumeOf(frames);
    if (!volume)
      throw new Error('select or open a volume first: t jumps to the copy of a volume that holds a point in time');
    const fresh = await session.read();
    const jump = jumpToTime(fresh, volume, text, session.now());
    const base = framesToVolume(fresh, host, volume, subclientOf(frames), jump.id);
    const folder = folderOf(frames);
    setData(fresh);
    if (folder === null) {
      setFrames(base);
    } else {
      // Inside a copy: the same folder in the chosen copy, as far as it exists there.
      const chosen = selectedNode(base.at(-1)) as Extract<Node, { kind: 'copy' }>;
      await session.enter(jump.id);
      setFrames([...base, ...(await foldersTo(chosen, folder))]);
    }
    info(jump.line);
  };

  const recover = async (node: EntryNode, to: string) => {
    const title = [`recover ${node.entry.path} from ${node.copyId}`, `into ${to || 'its place in the mounted volume'}`];
    setRecovery(() => ({ title, view: EMPTY_VIEW, lines: null, error: null }));
    await act(`recovering ${node.entry.path}…`, async () => {
      try {
        const summary = await session.recover(
          { volume: node.volume, id: node.copyId, path: node.entry.path, to: to || undefined },
          (event) => setRecovery((r) => (r ? { ...r, view: reduce(r.view, event) } : r)),
        );
        setRecovery((r) => (r ? { ...r, lines: summary.lines } : r));
        info(summary.lines.at(-1) ?? 'recovered');
      } catch (error) {
        setRecovery((r) => (r ? { ...r, error: errorText(error) } : r));
        throw error;
      }
    });
  };

  const startPrompt = (input: string) => {
    const frames = latest.current.frames;
    const frame = frames.at(-1) as Frame;
    const node = selectedNode(frame);
    switch (input) {
      case '/':
        setPrompt({ kind: 'filter', text: frame.filter });
        return;
      case 't':
        if (!volumeOf(frames))
          info('select a volume first: t jumps to the copy of a volume that holds a point in time');
        else setPrompt({ kind: 'time', text: '' });
        return;
      case 'r':
        if (node?.kind === 'entry') setPrompt({ kind: 'recover', text: '', node });
        else
          info(
            node?.kind === 'copy'
              ? `open ${node.copy.id} (⏎) and select the file or folder to recover`
              : 'select a file or folder inside a snapshot or QRV to recover it',
          );
        return;
      case 'p': {
        const copy = node?.kind === 'copy' ? node.copy : openCopy(frames);
        if (copy?.kind === 'snapshot') setPrompt({ kind: 'persist', text: '', snapshotId: copy.id });
        else
          info(
            copy
              ? `${copy.id} is a QRV: it stays until \`qrv remove\`; p changes a snapshot's persistence`
              : 'select a snapshot to change its persistence',
          );
        return;
      }
      case 'd':
        if (node?.kind === 'copy' && node.copy.kind === 'snapshot')
          setPrompt({ kind: 'delete', text: '', snapshotId: node.copy.id });
        else
          info(
            node?.kind === 'copy'
              ? `${node.copy.id} is a QRV; remove it with \`qrv remove ${node.copy.id}\``
              : "select a snapshot in a volume's list to delete it",
          );
    }
  };

  const promptKey = (p: Prompt, input: string, key: Key) => {
    const frames = latest.current.frames;
    if (key.escape) {
      setPrompt(null);
      if (p.kind === 'filter') setFrames([...frames.slice(0, -1), withFilter(frames.at(-1) as Frame, '')]);
      return;
    }
    if (p.kind === 'delete' && !key.return) {
      submit({ ...p, text: input });
      return;
    }
    if (key.return) {
      submit(p);
      return;
    }
    // Typed fast or pasted, text and Enter come as one piece.
    const end = input.search(/[\r\n]/);
    if (end >= 0 && !key.ctrl && !key.meta) {
      submit({ ...p, text: p.text + input.slice(0, end) });
      return;
    }
    let text = p.text;
    if (key.backspace || key.delete) text = text.slice(0, -1);
    else if (input && !key.ctrl && !key.meta && !key.upArrow && !key.downArrow) text += input;
    else return;
    setPrompt({ ...p, text });
    if (p.kind === 'filter') setFrames([...frames.slice(0, -1), withFilter(frames.at(-1) as Frame, text)]);
  };

  const onKey = (input: string, key: Key) => {
    if (key.ctrl && input === 'c') return quit();
    const { prompt, recovery, frames } = latest.current;
    if (prompt) return promptKey(prompt, input, key);
    if (latest.current.busy) {
      if (input === 'q') info(`wait: ${latest.current.busy}`);
      return;
    }
    if (recovery && (recovery.lines || recovery.error)) {
      setRecovery(() => null);
      if (input !== 'q') return;
    }
    const frame = frames.at(-1) as Frame;
    const page = 10;
    if (input === 'q') return quit();
    if (key.upArrow) setFrames([...frames.slice(0, -1), moveSelection(frame, -1)]);
    else if (key.downArrow) setFrames([...frames.slice(0, -1), moveSelection(frame, 1)]);
    else if (key.pageUp) setFrames([...frames.slice(0, -1), moveSelection(frame, -page)]);
    else if (key.pageDown) setFrames([...frames.slice(0, -1), moveSelection(frame, page)]);
    else if (key.home) setFrames([...frames.slice(0, -1), { ...frame, selected: 0 }]);
    else if (key.end)
      setFrames([...frames.slice(0, -1), { ...frame, selected: Math.max(0, visibleItems(frame).length - 1) }]);
    else if (key.return || key.rightArrow) enter();
    else if (key.backspace || key.delete || key.leftArrow) back();
    else if (key.escape && frame.filter) setFrames([...frames.slice(0, -1), withFilter(frame, '')]);
    else if (['/', 't', 'r', 'p', 'd'].includes(input)) startPrompt(input);
  };

  return { frames, data, status, prompt, busy, preview, previewKey, recovery, onKey, selected };
}
