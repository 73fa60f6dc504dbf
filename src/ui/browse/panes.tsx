// The two panes: left, the open levels of the tree and the current level's items; right, the
// selected item's details and contents (or a recovery in progress and its summary).
import React from 'react';
import { Box, Text } from 'ink';
import type { Line } from './details.ts';
import { nodeKey, nodeLabel, visibleItems, windowOf, type Frame } from './model.ts';
import { fit } from './text.ts';

/** The lines above the items: one per open level, the folders inside a copy as one path. */
export function ancestorLines(frames: Frame[]): string[] {
  const lines: string[] = [];
  for (const frame of frames) {
    const node = frame.node;
    if (node.kind === 'entry') continue;
    lines.push(`${' '.repeat(lines.length)}▾ ${nodeLabel(node)}`);
  }
  const last = frames.at(-1)?.node;
  if (last?.kind === 'entry') lines.push(`${' '.repeat(lines.length)}▾ ${last.entry.path}`);
  return lines;
}

export function TreePane({ frames, width, height }: { frames: Frame[]; width: number; height: number }) {
  const inner = width - 2;
  const rows = height - 2;
  const ancestors = ancestorLines(frames).map((line) => fit(line, inner, line.includes('/') ? 'start' : 'end'));
  const frame = frames.at(-1) as Frame;
  const items = visibleItems(frame);
  // One column of indent is given up when that makes the widest label fit (a copy's id and time
  // four levels down, under an application object).
  const depth = Math.min(ancestors.length, 6);
  const widest = Math.max(0, ...items.map((node) => [...nodeLabel(node)].length));
  const indent = ' '.repeat(depth > 0 && depth + 1 + widest > inner && depth + widest <= inner ? depth - 1 : depth);
  const room = Math.max(1, rows - ancestors.length);
  const { start, end } = windowOf(items.length, frame.selected, room);
  return (
    <Box flexDirection="column" width={width} height={height} borderStyle="single" borderColor="gray" overflow="hidden">
      {ancestors.map((line, i) => (
        <Text key={`a${i}`} color="cyan" wrap="truncate-end">
          {line}
        </Text>
      ))}
      {items.length === 0 && (
        <Text dimColor>
          {fit(`${indent} ${frame.filter ? `(nothing matches "${frame.filter}")` : '(empty)'}`, inner)}
        </Text>
      )}
      {items.slice(start, end).map((node, i) => {
        const at = start + i;
        const text = fit(`${indent}${at === frame.selected ? '›' : ' '}${nodeLabel(node)}`, inner);
        return (
          <Text key={nodeKey(node)} inverse={at === frame.selected} wrap="truncate-end">
            {text.padEnd(inner)}
          </Text>
        );
      })}
    </Box>
  );
}

const TONES: Record<NonNullable<Line['tone']>, { color?: string; bold?: boolean; dimColor?: boolean }> = {
  title: { bold: true },
  dim: { dimColor: true },
  error: { color: 'red' },
};

export function DetailPane({ lines, width, height }: { lines: Line[]; width: number; height: number }) {
  const inner = width - 2;
  const rows = height - 2;
  // Lines marked `wrap` (a recovery's summary, errors) are cut into rows; the others end in "…".
  lines = lines.flatMap((line) => (line.wrap ? wrapText(line.text, inner).map((text) => ({ ...line, text })) : [line]));
  const shown =
    lines.length > rows
      ? [...lines.slice(0, rows - 1), { text: `… ${lines.length - rows + 1} more`, tone: 'dim' as const }]
      : lines;
  return (
    <Box flexDirection="column" width={width} height={height} borderStyle="single" borderColor="gray" overflow="hidden">
      {shown.map((line, i) => (
        <Text key={i} wrap="truncate-end" {...(line.tone ? TONES[line.tone] : {})}>
          {fit(line.text, inner) || ' '}
        </Text>
      ))}
    </Box>
  );
}

/** Cuts text into rows of at most `width` columns, at spaces where it can. */
export function wrapText(text: string, width: number): string[] {
  const rows: string[] = [];
  let row = '';
  for (const word of text.split(' ')) {
    const candidate = row === '' ? word : `${row} ${word}`;
    if ([...candidate].length <= width) {
      row = candidate;
      continue;
    }
    if (row !== '') rows.push(row);
    let rest = [...word];
    while (rest.length > width) {
      rows.push(rest.slice(0, width).join(''));
      rest = rest.slice(width);
    }
    row = rest.join('');
  }
  rows.push(row);
  return rows;
}
