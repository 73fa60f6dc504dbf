// The terminal view of a running command: finished steps scroll above (Static), and below them
// the step in progress with a bar, bytes, MB/s and time left. A pure function of ViewState, so
// tests render it directly.
import React from 'react';
import { Box, Static, Text } from 'ink';
import type { QrvEvent } from '../core/events.ts';
import { formatBytes, formatSeconds } from '../core/duration.ts';

export type Tone = 'done' | 'skipped' | 'failed' | 'info' | 'warning';

/** The mark in front of each finished line, and its colour. */
export const MARKS: Record<Tone, { mark: string; color?: string }> = {
  done: { mark: '✓', color: 'green' },
  skipped: { mark: '–', color: 'gray' },
  failed: { mark: '✗', color: 'red' },
  info: { mark: '·' },
  warning: { mark: '!', color: 'yellow' },
};

export interface ViewLine {
  key: number;
  text: string;
  tone: Tone;
}

export interface ViewState {
  lines: ViewLine[];
  current: string | null;
  progress: Extract<QrvEvent, { type: 'progress' }> | null;
}

export const BAR_WIDTH = 30;

export function bar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function ProgressLine({ progress }: { progress: NonNullable<ViewState['progress']> }) {
  const fraction = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : 1;
  const eta = progress.etaSeconds === null ? '--' : formatSeconds(progress.etaSeconds);
  return (
    <Text>
      <Text color="cyan">{bar(fraction)}</Text> {String(Math.floor(fraction * 100)).padStart(3)}%{'  '}
      {formatBytes(progress.bytesDone)} / {formatBytes(progress.bytesTotal)}
      {'  '}
      {(progress.rate / 1e6).toFixed(0)} MB/s{'  '}
      {eta} left
    </Text>
  );
}

export function ProgressView({ state }: { state: ViewState }) {
  return (
    <>
      <Static items={state.lines}>
        {(line) => (
          <Text key={line.key}>
            <Text {...(MARKS[line.tone].color ? { color: MARKS[line.tone].color } : {})}>{MARKS[line.tone].mark} </Text>
            {line.text}
          </Text>
        )}
      </Static>
      {state.current !== null && (
        <Box flexDirection="column">
          <Text>
            <Text color="cyan">› </Text>
            {state.current}
          </Text>
          {state.progress && <ProgressLine progress={state.progress} />}
        </Box>
      )}
    </>
  );
}
