// What the browser shows and is started with: its status line, prompts and recovery panel, and
// the React state the controller sets (controller.ts, use-browser.ts).
import type { CatalogData } from '../../catalog/schema.ts';
import { isQrvError } from '../../core/errors.ts';
import type { ViewState } from '../progress-view.tsx';
import type { Frame, Node } from './model.ts';
import type { BrowseSession } from './session.ts';

export interface Status {
  text: string;
  tone: 'info' | 'error';
}

export type EntryNode = Extract<Node, { kind: 'entry' }>;

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

export const EMPTY_VIEW: ViewState = { lines: [], current: null, progress: null };

/** The React state the browser draws from; the controller sets it. */
export interface View {
  setFrames: (frames: Frame[]) => void;
  setData: (data: CatalogData) => void;
  setStatus: (status: Status | null) => void;
  setPrompt: (prompt: Prompt | null) => void;
  setBusy: (busy: string | null) => void;
  setRecovery: (recovery: Recovery | null) => void;
}
