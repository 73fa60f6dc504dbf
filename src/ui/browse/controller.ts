// The browser's behaviour: keys → navigation, prompts and the actions behind r, p, d, / and t,
// each through the session (services). Errors become one line in the status bar; nothing throws
// out of here. The React side is use-browser.ts.
import type { Key } from 'ink';
import type { CatalogData } from '../../catalog/schema.ts';
import { jumpToTime } from './tree.ts';
import { jumpToObjectTime } from './apps.ts';
import { foldersTo } from './folders.ts';
import { reduce } from '../ink-printer.tsx';
import {
  entryItems,
  folderOf,
  frameOf,
  framesToVolume,
  copyItems,
  instanceItems,
  moveSelection,
  objectCopyItems,
  objectItems,
  objectOf,
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
import {
  EMPTY_VIEW,
  errorText,
  type BrowserInit,
  type EntryNode,
  type Prompt,
  type Recovery,
  type View,
} from './state.ts';

/**
 * Keys to actions. Keys arrive faster than renders (a pasted text is one key per character):
 * the controller reads and writes the latest state in its own fields, synchronously, and hands
 * each change to React to draw.
 */
export class BrowserController {
  private frames: Frame[];
  private data: CatalogData;
  private prompt: Prompt | null = null;
  private busy: string | null = null;
  private recovery: Recovery | null = null;
  private quitting = false;

  constructor(
    private readonly init: BrowserInit,
    private readonly view: View,
  ) {
    this.frames = init.frames;
    this.data = init.data;
  }

  private get session(): BrowseSession {
    return this.init.session;
  }

  private setFrames(next: Frame[]): void {
    this.frames = next;
    this.view.setFrames(next);
  }

  private setData(next: CatalogData): void {
    this.data = next;
    this.view.setData(next);
  }

  private setPrompt(next: Prompt | null): void {
    this.prompt = next;
    this.view.setPrompt(next);
  }

  private setRecovery(change: (r: Recovery | null) => Recovery | null): void {
    this.recovery = change(this.recovery);
    this.view.setRecovery(this.recovery);
  }

  private info(text: string): void {
    this.view.setStatus({ text, tone: 'info' });
  }

  /** The frames with the last one replaced. */
  private replaceLast(frame: Frame): void {
    this.setFrames([...this.frames.slice(0, -1), frame]);
  }

  /** Runs an action with a busy note; its error becomes the status line. */
  private async act(note: string, work: () => Promise<void>): Promise<void> {
    this.busy = note;
    this.view.setBusy(note);
    this.view.setStatus(null);
    try {
      await work();
    } catch (error) {
      this.view.setStatus({ text: errorText(error), tone: 'error' });
    } finally {
      this.busy = null;
      this.view.setBusy(null);
    }
  }

  private enter(): void {
    const node = selectedNode(this.frames.at(-1) as Frame);
    if (!node) return;
    switch (node.kind) {
      case 'host':
        return;
      case 'subclient':
        return this.setFrames([...this.frames, frameOf(node, volumeItems(this.data, node.name))]);
      case 'volume':
        return this.setFrames([...this.frames, frameOf(node, copyItems(this.data, node.name))]);
      case 'apps':
        return this.setFrames([...this.frames, frameOf(node, instanceItems(this.data))]);
      case 'instance':
        return this.setFrames([...this.frames, frameOf(node, objectItems(this.data, node.name))]);
      case 'object':
        return this.setFrames([...this.frames, frameOf(node, objectCopyItems(this.data, node.id))]);
      case 'copy':
        return node.object ? this.openObjectCopy(node) : this.openCopy(node);
      case 'entry':
        return this.openEntry(node);
    }
  }

  private openCopy(node: Extract<Node, { kind: 'copy' }>): void {
    const { session } = this;
    void this.act(`opening ${node.copy.id}…`, async () => {
      await session.enter(node.copy.id);
      const entries = await session.list(node.copy.id, '/');
      this.setFrames([...this.frames, frameOf(node, entryItems(node.copy, entries))]);
      this.info(
        `${node.copy.id}: read by ${session.method === 'mount' ? 'a read-only mount' : 'debugfs (catalog mode)'}`,
      );
    });
  }

  /** A copy of an application object: opened at the object's first path, as far as the copy has it. */
  private openObjectCopy(node: Extract<Node, { kind: 'copy' }>): void {
    const { session } = this;
    const at = node.object?.at ?? '/';
    void this.act(`opening ${node.copy.id} at ${at}…`, async () => {
      await session.enter(node.copy.id);
      const frames = await foldersTo(session, node, at);
      this.setFrames([...this.frames, ...frames]);
      const shown = folderOf(frames) ?? '/';
      const selected = selectedNode(frames.at(-1));
      const reached = shown === at || (selected?.kind === 'entry' && selected.entry.path === at);
      this.info(
        `${node.object?.id ?? node.copy.id} in ${node.copy.id}: ${reached ? at : `${at} is not in it; ${shown}`}`,
      );
    });
  }

  private openEntry(node: EntryNode): void {
    const copy = openCopy(this.frames);
    if (!copy) return;
    if (node.entry.type !== 'dir' && node.entry.type !== 'symlink') {
      this.info(`${node.entry.path}: a ${node.entry.type}; r recovers it`);
      return;
    }
    void this.act(`reading ${node.entry.path}…`, async () => {
      const entries = await this.session.list(copy.id, node.entry.path);
      this.setFrames([...this.frames, frameOf(node, entryItems(copy, entries))]);
    });
  }

  private back(): void {
    const frames = this.frames;
    if (frames.length <= 1) return;
    const leaving = (frames.at(-1) as Frame).node;
    this.setFrames(frames.slice(0, -1));
    if (leaving.kind === 'copy')
      void this.session
        .leave()
        .catch((error: unknown) => this.view.setStatus({ text: errorText(error), tone: 'error' }));
  }

  private quit(): void {
    if (this.quitting) return;
    this.quitting = true;
    this.info('closing…');
    this.init.onQuit();
  }

  private submit(p: Prompt): void {
    this.setPrompt(null);
    switch (p.kind) {
      case 'filter':
        return;
      case 'time':
        void this.act(`finding the copy for ${p.text}…`, () => this.jumpTo(p.text));
        return;
      case 'persist':
        void this.act(`changing ${p.snapshotId}…`, async () => {
          const summary = await this.session.setPersistence(p.snapshotId, p.text);
          const until = (summary.data.snapshot as { persistUntil: string | null }).persistUntil;
          await this.reread();
          this.info(`${p.snapshotId} persists ${until ? `until ${shortTime(until)}` : 'forever'}`);
        });
        return;
      case 'delete':
        if (!/^y(es)?$/i.test(p.text.trim())) return this.info(`${p.snapshotId} not deleted`);
        void this.act(`deleting ${p.snapshotId}…`, async () => {
          await this.session.deleteSnapshot(p.snapshotId);
          await this.reread();
          this.info(`removed snapshot ${p.snapshotId}`);
        });
        return;
      case 'recover':
        void this.recover(p.node, p.text.trim());
    }
  }

  /** The catalog read again after a change, and the frames made from it. */
  private async reread(): Promise<void> {
    const fresh = await this.session.read();
    this.setData(fresh);
    this.setFrames(refreshFrames(this.frames, fresh));
  }

  /** `t` at an application object: the copy of the group that holds it at that time is selected. */
  private async jumpToObject(object: NonNullable<ReturnType<typeof objectOf>>, text: string): Promise<void> {
    const fresh = await this.session.read();
    const { node, depth } = object;
    const jump = jumpToObjectTime(fresh, node.id, text, this.session.now());
    this.setData(fresh);
    const items = objectCopyItems(fresh, node.id);
    this.setFrames([...this.frames.slice(0, depth), frameOf(node, items, `copy:${jump.id}`)]);
    if (this.session.openCopy !== null) await this.session.leave();
    this.info(jump.line);
  }

  private async jumpTo(text: string): Promise<void> {
    const frames = this.frames;
    const object = objectOf(frames);
    if (object) return this.jumpToObject(object, text);
    const volume = volumeOf(frames);
    if (!volume)
      throw new Error('select or open a volume first: t jumps to the copy of a volume that holds a point in time');
    const fresh = await this.session.read();
    const jump = jumpToTime(fresh, volume, text, this.session.now());
    const base = framesToVolume(fresh, this.init.host, volume, subclientOf(frames), jump.id);
    const folder = folderOf(frames);
    this.setData(fresh);
    if (folder === null) {
      this.setFrames(base);
    } else {
      // Inside a copy: the same folder in the chosen copy, as far as it exists there.
      const chosen = selectedNode(base.at(-1)) as Extract<Node, { kind: 'copy' }>;
      await this.session.enter(jump.id);
      this.setFrames([...base, ...(await foldersTo(this.session, chosen, folder))]);
    }
    this.info(jump.line);
  }

  private async recover(node: EntryNode, to: string): Promise<void> {
    const title = [`recover ${node.entry.path} from ${node.copyId}`, `into ${to || 'its place in the mounted volume'}`];
    this.setRecovery(() => ({ title, view: EMPTY_VIEW, lines: null, error: null }));
    await this.act(`recovering ${node.entry.path}…`, async () => {
      try {
        const summary = await this.session.recover(
          { volume: node.volume, id: node.copyId, path: node.entry.path, to: to || undefined },
          (event) => this.setRecovery((r) => (r ? { ...r, view: reduce(r.view, event) } : r)),
        );
        this.setRecovery((r) => (r ? { ...r, lines: summary.lines } : r));
        this.info(summary.lines.at(-1) ?? 'recovered');
      } catch (error) {
        this.setRecovery((r) => (r ? { ...r, error: errorText(error) } : r));
        throw error;
      }
    });
  }

  private startPrompt(input: string): void {
    const frames = this.frames;
    const frame = frames.at(-1) as Frame;
    const node = selectedNode(frame);
    switch (input) {
      case '/':
        return this.setPrompt({ kind: 'filter', text: frame.filter });
      case 't':
        if (!volumeOf(frames) && !objectOf(frames))
          return this.info(
            'select a volume or an application object first: t jumps to the copy that holds a point in time',
          );
        return this.setPrompt({ kind: 'time', text: '' });
      case 'r':
        if (node?.kind === 'entry') return this.setPrompt({ kind: 'recover', text: '', node });
        return this.info(
          node?.kind === 'copy'
            ? `open ${node.copy.id} (⏎) and select the file or folder to recover`
            : 'select a file or folder inside a snapshot or QRV to recover it',
        );
      case 'p':
        return this.startPersist(node);
      case 'd':
        if (node?.kind === 'copy' && node.copy.kind === 'snapshot')
          return this.setPrompt({ kind: 'delete', text: '', snapshotId: node.copy.id });
        return this.info(
          node?.kind === 'copy'
            ? `${node.copy.id} is a QRV; remove it with \`qrv remove ${node.copy.id}\``
            : "select a snapshot in a volume's list to delete it",
        );
    }
  }

  private startPersist(node: Node | undefined): void {
    const copy = node?.kind === 'copy' ? node.copy : openCopy(this.frames);
    if (copy?.kind === 'snapshot') return this.setPrompt({ kind: 'persist', text: '', snapshotId: copy.id });
    this.info(
      copy
        ? `${copy.id} is a QRV: it stays until \`qrv remove\`; p changes a snapshot's persistence`
        : 'select a snapshot to change its persistence',
    );
  }

  private promptKey(p: Prompt, input: string, key: Key): void {
    const frame = this.frames.at(-1) as Frame;
    if (key.escape) {
      this.setPrompt(null);
      if (p.kind === 'filter') this.replaceLast(withFilter(frame, ''));
      return;
    }
    if (p.kind === 'delete' && !key.return) return this.submit({ ...p, text: input });
    if (key.return) return this.submit(p);
    // Typed fast or pasted, text and Enter come as one piece.
    const end = input.search(/[\r\n]/);
    if (end >= 0 && !key.ctrl && !key.meta) return this.submit({ ...p, text: p.text + input.slice(0, end) });
    let text = p.text;
    if (key.backspace || key.delete) text = text.slice(0, -1);
    else if (input && !key.ctrl && !key.meta && !key.upArrow && !key.downArrow) text += input;
    else return;
    this.setPrompt({ ...p, text });
    if (p.kind === 'filter') this.replaceLast(withFilter(frame, text));
  }

  onKey(input: string, key: Key): void {
    if (key.ctrl && input === 'c') return this.quit();
    if (this.prompt) return this.promptKey(this.prompt, input, key);
    if (this.busy) {
      if (input === 'q') this.info(`wait: ${this.busy}`);
      return;
    }
    const recovery = this.recovery;
    if (recovery && (recovery.lines || recovery.error)) {
      this.setRecovery(() => null);
      if (input !== 'q') return;
    }
    if (input === 'q') return this.quit();
    if (this.move(key)) return;
    if (key.return || key.rightArrow) this.enter();
    else if (key.backspace || key.delete || key.leftArrow) this.back();
    else if (key.escape && (this.frames.at(-1) as Frame).filter)
      this.replaceLast(withFilter(this.frames.at(-1) as Frame, ''));
    else if (['/', 't', 'r', 'p', 'd'].includes(input)) this.startPrompt(input);
  }

  /** Arrow, page, home and end keys move the selection; true when the key was one of them. */
  private move(key: Key): boolean {
    const frame = this.frames.at(-1) as Frame;
    const page = 10;
    if (key.upArrow) this.replaceLast(moveSelection(frame, -1));
    else if (key.downArrow) this.replaceLast(moveSelection(frame, 1));
    else if (key.pageUp) this.replaceLast(moveSelection(frame, -page));
    else if (key.pageDown) this.replaceLast(moveSelection(frame, page));
    else if (key.home) this.replaceLast({ ...frame, selected: 0 });
    else if (key.end) this.replaceLast({ ...frame, selected: Math.max(0, visibleItems(frame).length - 1) });
    else return false;
    return true;
  }
}
