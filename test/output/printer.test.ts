// Choosing the printer once at start-up, and the one-line forms all printers share.
import t from 'tap';
import { QrvError } from '../../src/core/errors.ts';
import { chooseMode, describeEvent, errorLine, formatMs } from '../../src/output/printer.ts';

t.test('chooseMode: --json wins, Ink only on a TTY with a real TERM, plain otherwise', async (t) => {
  const tty = { isTTY: true };
  t.equal(chooseMode(true, tty, { TERM: 'xterm-256color' }), 'json', 'json wins over a terminal');
  t.equal(chooseMode(true, {}, {}), 'json', 'json when piped');
  t.equal(chooseMode(false, tty, { TERM: 'xterm-256color' }), 'ink');
  t.equal(chooseMode(false, tty, { TERM: 'dumb' }), 'plain', 'TERM=dumb');
  t.equal(chooseMode(false, tty, {}), 'plain', 'TERM unset');
  t.equal(chooseMode(false, tty, { TERM: '' }), 'plain', 'TERM empty');
  t.equal(chooseMode(false, { isTTY: false }, { TERM: 'xterm' }), 'plain', 'not a TTY');
  t.equal(chooseMode(false, {}, { TERM: 'xterm' }), 'plain', 'a pipe has no isTTY');
  t.equal(
    chooseMode(false, tty, { TERM: 'xterm', CI: 'true' }),
    'plain',
    'a terminal in CI: plain lines (Ink would draw only at the end)',
  );
  t.equal(
    chooseMode(false, tty, { TERM: 'xterm', CONTINUOUS_INTEGRATION: '1' }),
    'plain',
    'CONTINUOUS_INTEGRATION too',
  );
  t.equal(chooseMode(false, tty, { TERM: 'xterm', CI: '' }), 'plain', 'CI set but empty counts, as Ink counts it');
  t.equal(chooseMode(false, tty, { TERM: 'xterm', CI: 'false' }), 'ink', 'CI=false does not');
  t.equal(chooseMode(false, tty, { TERM: 'xterm', CI: '0' }), 'ink', 'nor CI=0');
});

t.test('chooseMode on this process: stdout under tap is a pipe, so plain', async (t) => {
  t.notOk(process.stdout.isTTY, 'tap pipes the test output');
  t.equal(chooseMode(false, process.stdout, { TERM: 'xterm-256color' }), 'plain');
});

t.test('describeEvent gives one line for finished steps, info and warnings', async (t) => {
  t.equal(
    describeEvent({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' }),
    null,
    'a started step has no line',
  );
  t.equal(
    describeEvent({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'done', detail: '8 MiB', ms: 1234 }),
    'copy: copy blocks: 8 MiB (1.23 s)',
  );
  t.equal(
    describeEvent({ type: 'step', phase: 'snapshot', step: 'freeze', state: 'done' }),
    'snapshot: freeze',
    'no detail, no timing',
  );
  t.equal(
    describeEvent({
      type: 'step',
      phase: 'snapshot',
      step: 'pre-snapshot hook',
      state: 'failed',
      detail: 'exit 3',
      ms: 42,
    }),
    'snapshot: pre-snapshot hook failed: exit 3 (42 ms)',
  );
  t.equal(describeEvent({ type: 'step', phase: 'unsnap', step: 'remove', state: 'skipped' }), 'unsnap: remove skipped');
  t.equal(describeEvent({ type: 'info', message: 'hello' }), 'hello');
  t.equal(describeEvent({ type: 'warning', message: 'low space' }), 'warning: low space');
  t.equal(
    describeEvent({ type: 'progress', phase: 'copy', bytesDone: 1, bytesTotal: 2, rate: 1, etaSeconds: 1 }),
    null,
  );
});

t.test('formatMs', async (t) => {
  t.equal(formatMs(0.5), '0.50 ms');
  t.equal(formatMs(9.999), '10.00 ms');
  t.equal(formatMs(12.4), '12 ms');
  t.equal(formatMs(999), '999 ms');
  t.equal(formatMs(1000), '1.00 s');
  t.equal(formatMs(61_500), '61.50 s');
});

t.test('errorLine: qrv: message (hint)', async (t) => {
  t.equal(
    errorLine(new QrvError('busy', 'catalog-locked', 'another qrv is busy', 'wait for it')),
    'qrv: another qrv is busy (wait for it)',
  );
  t.equal(errorLine(new QrvError('bug', 'internal', 'no hint here')), 'qrv: no hint here');
});
