// `qrv browse`: the two-pane browser. A title line, the tree (left, 30 columns) and the selected
// item (right), a status line and a key line; 23 rows, so that it fits an 80×24 terminal. A
// bigger terminal gets a bigger screen, redrawn when the terminal is resized.
import React, { useEffect, useState } from 'react';
import { Box, Text, useInput, useStdout } from 'ink';
import { formatBytes, formatSeconds } from '../../core/duration.ts';
import { bar } from '../progress-view.tsx';
import type { BrowserInit, Prompt, Recovery, Status } from './state.ts';
import { useBrowser } from './use-browser.ts';
import { detailLines, type Line } from './details.ts';
import { nodeLabel, visibleItems, type Frame } from './model.ts';
import { DetailPane, TreePane } from './panes.tsx';
import { fit } from './text.ts';

// The tree fits a snapshot three levels down: its 14-character id and its time (MM-DD HH:MM).
export const LEFT_WIDTH = 32;
export const HELP = '↑↓ move ⏎/→ open ⌫/← back r recover p persist d delete / filter t time q quit';

export interface BrowserProps extends BrowserInit {
  /** the terminal's size (default: stdout's, at least 80×24) */
  width?: number;
  height?: number;
}

function promptLabel(p: Prompt): string {
  switch (p.kind) {
    case 'filter':
      return '/';
    case 'time':
      return 'jump to time (2h ago, yesterday 18:00, ISO): ';
    case 'persist':
      return `persist ${p.snapshotId} (30d, forever, 2026-12-31): `;
    case 'recover':
      return 'into folder (empty: back in place): ';
    case 'delete':
      return `delete snapshot ${p.snapshotId}? this cannot be undone [y/N] `;
  }
}

function recoveryLines(r: Recovery): Line[] {
  const lines: Line[] = r.title.map((text, i) => ({ text, ...(i === 0 ? { tone: 'title' as const } : {}) }));
  lines.push({ text: '' });
  for (const line of r.view.lines)
    lines.push({
      text: `${line.tone === 'failed' ? '✗' : line.tone === 'warning' ? '!' : '✓'} ${line.text}`,
      wrap: true,
    });
  if (r.view.current) lines.push({ text: `› ${r.view.current}` });
  const p = r.view.progress;
  if (p && !r.lines) {
    const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
    lines.push({
      text: `${bar(fraction, 20)} ${Math.floor(fraction * 100)}% ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}${p.etaSeconds === null ? '' : `, ${formatSeconds(p.etaSeconds)} left`}`,
    });
  }
  if (r.lines)
    for (const text of r.lines)
      lines.push({ text, wrap: true, ...(text.startsWith('skipped') ? { tone: 'error' as const } : {}) });
  if (r.error) lines.push({ text: r.error, tone: 'error', wrap: true });
  if (r.lines || r.error) lines.push({ text: '' }, { text: 'any key: back to the browser', tone: 'dim' });
  return lines;
}

function StatusLine({
  prompt,
  busy,
  status,
  frame,
  width,
}: {
  prompt: Prompt | null;
  busy: string | null;
  status: Status | null;
  frame: Frame;
  width: number;
}) {
  if (prompt) {
    const label = promptLabel(prompt);
    return (
      <Text wrap="truncate-start">
        <Text color="yellow">{label}</Text>
        {fit(`${prompt.text}█`, Math.max(1, width - label.length), 'start')}
      </Text>
    );
  }
  if (busy) return <Text color="cyan">{fit(busy, width)}</Text>;
  if (frame.filter) {
    return (
      <Text color="yellow">
        {fit(`filter "${frame.filter}": ${visibleItems(frame).length} of ${frame.items.length} (esc clears)`, width)}
      </Text>
    );
  }
  if (status) return <Text {...(status.tone === 'error' ? { color: 'red' } : {})}>{fit(status.text, width)}</Text>;
  return <Text> </Text>;
}

/** The terminal's size, again at each resize (Ink itself only lays out the old tree again). */
function useTerminalSize(): { columns: number | undefined; rows: number | undefined } {
  const { stdout } = useStdout();
  const [size, setSize] = useState({ columns: stdout.columns, rows: stdout.rows });
  useEffect(() => {
    const resized = (): void => setSize({ columns: stdout.columns, rows: stdout.rows });
    stdout.on('resize', resized);
    return () => {
      stdout.off('resize', resized);
    };
  }, [stdout]);
  return size;
}

export function Browser(props: BrowserProps) {
  const terminal = useTerminalSize();
  const width = Math.max(80, props.width ?? terminal.columns ?? 80);
  const height = Math.max(24, props.height ?? terminal.rows ?? 24);
  const state = useBrowser(props);
  // An Enter typed before Ink put the terminal in raw mode went through the terminal's ICRNL and
  // arrives as "\n", which Ink does not call return: it is one all the same.
  useInput((input, key) => state.onKey(input, input === '\n' && !key.return ? { ...key, return: true } : key));
  const frame = state.frames.at(-1) as Frame;
  const paneHeight = height - 4;
  const path = state.frames
    .map((f) => (f.node.kind === 'entry' ? null : nodeLabel(f.node).split(' ')[0]))
    .filter(Boolean);
  const last = frame.node;
  const where = `${path.join(' › ')}${last.kind === 'entry' ? ` › ${last.entry.path}` : ''}`;
  const lines = state.recovery
    ? recoveryLines(state.recovery)
    : detailLines(state.selected, state.data, state.preview, state.previewKey);
  return (
    <Box flexDirection="column" width={width} height={height - 1}>
      <Text wrap="truncate-start">
        <Text bold>qrv browse</Text>
        <Text color="cyan">{` ${fit(where, width - 11, 'start')}`}</Text>
      </Text>
      <Box flexDirection="row" height={paneHeight}>
        <TreePane frames={state.frames} width={LEFT_WIDTH} height={paneHeight} />
        <DetailPane lines={lines} width={width - LEFT_WIDTH} height={paneHeight} />
      </Box>
      <StatusLine prompt={state.prompt} busy={state.busy} status={state.status} frame={frame} width={width} />
      <Text dimColor>{fit(HELP, width)}</Text>
    </Box>
  );
}
