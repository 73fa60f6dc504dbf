// The Ink view as a pure function of ViewState (rendered with ink-testing-library), and the
// reducer that folds the engine's events into that state.
import t from 'tap';
import React from 'react';
import { render } from 'ink-testing-library';
import type { QrvEvent } from '../../src/core/events.ts';
import { reduce } from '../../src/ui/ink-printer.tsx';
import { bar, BAR_WIDTH, ProgressView, type ViewState } from '../../src/ui/progress-view.tsx';

const MiB = 1024 * 1024;
const EMPTY: ViewState = { lines: [], current: null, progress: null };

// eslint-disable-next-line no-control-regex
const plain = (text: string | undefined) => (text ?? '').replace(/\x1b\[[0-9;]*m/g, '');

function frameOf(state: ViewState): string {
  const view = render(<ProgressView state={state} />);
  const frame = plain(view.lastFrame());
  view.unmount();
  return frame;
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

t.test('bar fills in proportion and stays within its width', async (t) => {
  t.equal(bar(0), '░'.repeat(BAR_WIDTH));
  t.equal(bar(0.5), `${'█'.repeat(15)}${'░'.repeat(15)}`);
  t.equal(bar(1), '█'.repeat(BAR_WIDTH));
  t.equal(bar(1.7), '█'.repeat(BAR_WIDTH), 'over 100% is clamped');
  t.equal(bar(-0.2), '░'.repeat(BAR_WIDTH), 'below 0 is clamped');
  t.equal(bar(0.25, 8), '██░░░░░░', 'other widths');
});

t.test('finished lines are shown with their marks, in order', async (t) => {
  const frame = frameOf({
    lines: [
      { key: 0, text: 'snapshot: take snapshot: s-0123abcd (12 ms)', tone: 'done' },
      { key: 1, text: 'hook pre-copy: tables flushed', tone: 'info' },
      { key: 2, text: 'copy: copy blocks failed: EIO', tone: 'failed' },
      { key: 3, text: 'the destination is on the same disk', tone: 'warning' },
      { key: 4, text: 'unsnap: remove snapshot skipped', tone: 'skipped' },
    ],
    current: null,
    progress: null,
  });
  t.same(
    frame.trimEnd().split('\n'),
    [
      '✓ snapshot: take snapshot: s-0123abcd (12 ms)',
      '· hook pre-copy: tables flushed',
      '✗ copy: copy blocks failed: EIO',
      '! the destination is on the same disk',
      '– unsnap: remove snapshot skipped',
    ],
    frame,
  );
  t.notOk(frame.includes('›'), 'no current step');
});

t.test('the current step shows a bar, percent, bytes, MB/s and time left', async (t) => {
  const frame = frameOf({
    lines: [{ key: 0, text: 'copy: check destination', tone: 'done' }],
    current: 'copy: copy blocks',
    progress: {
      type: 'progress',
      phase: 'copy',
      bytesDone: 32 * MiB,
      bytesTotal: 128 * MiB,
      rate: 250e6,
      etaSeconds: 125,
    },
  });
  const lines = frame.split('\n');
  t.equal(lines[0], '✓ copy: check destination', 'finished lines above');
  t.equal(lines[1], '› copy: copy blocks', 'then the current step');
  const expectedBar = `${'█'.repeat(8)}${'░'.repeat(22)}`; // 25% of 30, rounded
  t.equal(lines[2]?.replace(/\s+/g, ' ').trim(), `${expectedBar} 25% 32.0 MiB / 128.0 MiB 250 MB/s 2m05s left`, frame);
});

t.test('time left is "--" while unknown, and an empty total counts as done', async (t) => {
  const unknown = frameOf({
    lines: [],
    current: 'verify: compare checksums',
    progress: { type: 'progress', phase: 'verify', bytesDone: 0, bytesTotal: 4 * MiB, rate: 0, etaSeconds: null },
  });
  t.match(unknown, /░{30}\s+0%\s+0 B \/ 4\.00 MiB\s+0 MB\/s\s+-- left/, unknown);
  const empty = frameOf({
    lines: [],
    current: 'copy: copy blocks',
    progress: { type: 'progress', phase: 'copy', bytesDone: 0, bytesTotal: 0, rate: 0, etaSeconds: null },
  });
  t.match(empty, /█{30}\s+100%/, empty);
});

t.test('a current step without progress shows no bar; no current step shows nothing live', async (t) => {
  const noProgress = frameOf({ lines: [], current: 'snapshot: freeze', progress: null });
  t.equal(noProgress, '› snapshot: freeze');
  const idle = frameOf({
    lines: [],
    current: null,
    progress: { type: 'progress', phase: 'copy', bytesDone: 1, bytesTotal: 2, rate: 1, etaSeconds: 1 },
  });
  t.equal(idle, '', 'progress without a current step is not drawn');
});

t.test('finished lines appear once across rerenders', async (t) => {
  let state = EMPTY;
  const view = render(<ProgressView state={state} />);
  t.teardown(() => view.unmount());
  const events: QrvEvent[] = [
    { type: 'step', phase: 'snapshot', step: 'take snapshot', state: 'started' },
    { type: 'step', phase: 'snapshot', step: 'take snapshot', state: 'done', detail: 's-0123abcd' },
    { type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' },
    { type: 'progress', phase: 'copy', bytesDone: 4 * MiB, bytesTotal: 8 * MiB, rate: 100e6, etaSeconds: 0.04 },
  ];
  for (const event of events) {
    state = reduce(state, event);
    view.rerender(<ProgressView state={state} />);
  }
  const frame = plain(view.lastFrame());
  t.equal(count(frame, 'take snapshot'), 1, frame);
  t.match(frame, /✓ snapshot: take snapshot: s-0123abcd\n› copy: copy blocks\n█{15}░{15}\s+50%/);
});

t.test('reduce folds events into the view state', async (t) => {
  const progress = { type: 'progress', phase: 'copy', bytesDone: 1, bytesTotal: 2, rate: 3, etaSeconds: 4 } as const;
  let state = reduce(EMPTY, { type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' });
  t.same(state, { lines: [], current: 'copy: copy blocks', progress: null }, 'a started step becomes current');

  state = reduce(state, progress);
  t.same(state.progress, progress, 'progress is kept');
  t.equal(state.current, 'copy: copy blocks');

  state = reduce(state, { type: 'info', message: 'hook pre-copy: ok' });
  t.same(state.lines, [{ key: 0, text: 'hook pre-copy: ok', tone: 'info' }], 'info adds an info line');
  t.equal(state.current, 'copy: copy blocks', 'and keeps the current step');
  t.same(state.progress, progress, 'and its progress');

  state = reduce(state, { type: 'warning', message: 'slow disk' });
  t.same(
    state.lines.at(-1),
    { key: 1, text: 'slow disk', tone: 'warning' },
    'a warning line (marked by tone, not by text)',
  );

  state = reduce(state, { type: 'step', phase: 'copy', step: 'copy blocks', state: 'done', detail: '8 MiB', ms: 1500 });
  t.same(
    state.lines.at(-1),
    { key: 2, text: 'copy: copy blocks: 8 MiB (1.50 s)', tone: 'done' },
    'a finished step becomes a done line',
  );
  t.equal(state.current, null, 'nothing is current');
  t.equal(state.progress, null, 'no progress');

  state = reduce(state, { type: 'step', phase: 'verify', step: 'compare checksums', state: 'started' });
  state = reduce(state, {
    type: 'step',
    phase: 'verify',
    step: 'compare checksums',
    state: 'failed',
    detail: 'mismatch',
  });
  t.same(
    state.lines.at(-1),
    { key: 3, text: 'verify: compare checksums failed: mismatch', tone: 'failed' },
    'a failed step is a failed line',
  );

  state = reduce(state, { type: 'step', phase: 'unsnap', step: 'remove snapshot', state: 'skipped' });
  t.same(
    state.lines.at(-1),
    { key: 4, text: 'unsnap: remove snapshot skipped', tone: 'skipped' },
    'a skipped step is a skipped line',
  );
  t.same(
    state.lines.map((line) => line.key),
    [0, 1, 2, 3, 4],
    'keys are unique and in order',
  );
});

t.test('reduce never changes the state it is given', async (t) => {
  const before: ViewState = {
    lines: [{ key: 0, text: 'a', tone: 'done' }],
    current: 'copy: copy blocks',
    progress: null,
  };
  const snapshot = structuredClone(before);
  const events: QrvEvent[] = [
    { type: 'info', message: 'x' },
    { type: 'warning', message: 'y' },
    { type: 'progress', phase: 'copy', bytesDone: 1, bytesTotal: 2, rate: 3, etaSeconds: 4 },
    { type: 'step', phase: 'copy', step: 'copy blocks', state: 'done' },
    { type: 'step', phase: 'verify', step: 'compare', state: 'started' },
  ];
  for (const event of events) t.not(reduce(before, event), before, `${event.type}: a new object`);
  t.same(before, snapshot, 'the input is untouched');
});
