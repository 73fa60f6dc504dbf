// The browser as a React hook: the state it draws, the preview of the selected folder, and one
// BrowserController (controller.ts) that turns keys into actions on that state.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Key } from 'ink';
import type { CatalogData } from '../../catalog/schema.ts';
import { BrowserController } from './controller.ts';
import type { Preview } from './details.ts';
import { nodeKey, selectedNode, type Frame } from './model.ts';
import { errorText, type BrowserInit, type Prompt, type Recovery, type Status } from './state.ts';

export function useBrowser(init: BrowserInit) {
  const { session } = init;
  const [frames, setFrames] = useState<Frame[]>(init.frames);
  const [data, setData] = useState<CatalogData>(init.data);
  const [status, setStatus] = useState<Status | null>(init.status ?? null);
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [recovery, setRecovery] = useState<Recovery | null>(null);
  // React's setters stay the same from render to render: one controller serves them all.
  const controller = useRef<BrowserController | null>(null);
  controller.current ??= new BrowserController(init, {
    setFrames,
    setData,
    setStatus,
    setPrompt,
    setBusy,
    setRecovery,
  });

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

  const onKey = useCallback((input: string, key: Key) => controller.current?.onKey(input, key), []);
  return { frames, data, status, prompt, busy, preview, previewKey, recovery, onKey, selected };
}
