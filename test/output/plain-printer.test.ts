// Plain output for cron and pipes: no escape codes, finished steps, progress only when a new
// tenth is reached (at most one line per 10 s, plus the first and the last), warnings and errors
// on the err writer.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { QrvError } from '../../src/core/errors.ts';
import { ProgressMeter, Reporter, type QrvEvent } from '../../src/core/events.ts';
import { PlainPrinter, progressLine } from '../../src/output/plain-printer.ts';

type Progress = Extract<QrvEvent, { type: 'progress' }>;
const MiB = 1024 * 1024;

function setup() {
  const out: string[] = [];
  const err: string[] = [];
  const printer = new PlainPrinter(
    (text) => void out.push(text),
    (text) => void err.push(text),
  );
  const reporter = new Reporter();
  printer.attach(reporter);
  return { out, err, printer, reporter };
}

function progress(bytesDone: number, bytesTotal: number, phase: Progress['phase'] = 'copy'): Progress {
  return { type: 'progress', phase, bytesDone, bytesTotal, rate: 250e6, etaSeconds: bytesDone < bytesTotal ? 12 : 0 };
}

/** Makes Date.now() return `clock.now` for the rest of the test. */
function fakeClock(t: Test): { now: number } {
  const real = Date.now;
  const clock = { now: real() };
  Date.now = () => clock.now;
  t.teardown(() => {
    Date.now = real;
  });
  return clock;
}

const percentOf = (line: string) => Number(/: (\d+)% /.exec(line)?.[1]);

t.test('progressLine', async (t) => {
  t.equal(
    progressLine({
      type: 'progress',
      phase: 'copy',
      bytesDone: 32 * MiB,
      bytesTotal: 128 * MiB,
      rate: 250e6,
      etaSeconds: 125,
    }),
    'copy: 25% 32.0 MiB of 128.0 MiB, 250 MB/s, 2m05s left',
  );
  t.equal(
    progressLine({ type: 'progress', phase: 'verify', bytesDone: 0, bytesTotal: 4 * MiB, rate: 0, etaSeconds: null }),
    'verify: 0% 0 B of 4.00 MiB, 0 MB/s',
    'no time left while unknown',
  );
  t.equal(
    progressLine({ type: 'progress', phase: 'copy', bytesDone: 0, bytesTotal: 0, rate: 0, etaSeconds: null }),
    'copy: 100% 0 B of 0 B, 0 MB/s',
    'an empty volume is done',
  );
});

t.test('finished steps, info and the summary go to out; started steps print nothing', async (t) => {
  const { out, err, printer, reporter } = setup();
  reporter.emit({ type: 'step', phase: 'snapshot', step: 'create snapshot', state: 'started' });
  t.same(out, [], 'nothing for a started step');
  reporter.emit({
    type: 'step',
    phase: 'snapshot',
    step: 'create snapshot',
    state: 'done',
    detail: 's-0123abcd',
    ms: 12.4,
  });
  reporter.info('hook pre-snapshot: flushed');
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'failed', detail: 'EIO' });
  printer.summary({ data: { ok: true }, lines: ['qrv q-0123abcd ready', 'copied 8 MiB'] });
  t.same(out, [
    'snapshot: create snapshot: s-0123abcd (12 ms)\n',
    'hook pre-snapshot: flushed\n',
    'copy: copy blocks failed: EIO\n',
    'qrv q-0123abcd ready\n',
    'copied 8 MiB\n',
  ]);
  t.same(err, [], 'nothing on err');
});

t.test('warnings and errors go to err', async (t) => {
  const { out, err, printer, reporter } = setup();
  reporter.warn('the destination is on the same disk');
  printer.error(new QrvError('hook', 'hook-failed', 'pre-copy hook exited with status 3: x', 'run it by hand'));
  t.same(err, [
    'warning: the destination is on the same disk\n',
    'qrv: pre-copy hook exited with status 3: x (run it by hand)\n',
  ]);
  t.same(out, []);
  await printer.close();
});

t.test('no escape codes, whatever is printed', async (t) => {
  const { out, err, printer, reporter } = setup();
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' });
  for (let done = 0; done <= 64 * MiB; done += 4 * MiB) reporter.emit(progress(done, 64 * MiB));
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'done', ms: 900 });
  reporter.warn('slow');
  reporter.info('done');
  printer.summary({ data: {}, lines: ['summary'] });
  printer.error(new QrvError('io', 'read-failed', 'broken', 'fix it'));
  const all = [...out, ...err].join('');
  t.ok(all.length > 0, 'something was printed');
  t.notOk(all.includes('\x1b'), 'no ESC character');
  t.notOk(all.includes('\r'), 'no carriage return');
});

t.test('a name with a newline or escape in it cannot split or colour a line', async (t) => {
  const { out, err, printer, reporter } = setup();
  const name = 'db\nqrv: everything is fine\x1b[2J';
  reporter.warn(`volume "${name}" is odd`);
  reporter.info(`hook pre-copy: ${name}`);
  reporter.emit({ type: 'step', phase: 'copy', step: 'check destination', state: 'done', detail: `/srv/${name}` });
  printer.summary({ data: {}, lines: [`added volume ${name}`] });
  printer.error(new QrvError('notFound', 'unknown-volume', `no volume or sub-client named "${name}"`, 'known: a\tb'));
  t.same(err, [
    'warning: volume "db\\nqrv: everything is fine\\x1b[2J" is odd\n',
    'qrv: no volume or sub-client named "db\\nqrv: everything is fine\\x1b[2J" (known: a\\tb)\n',
  ]);
  t.same(out, [
    'hook pre-copy: db\\nqrv: everything is fine\\x1b[2J\n',
    'copy: check destination: /srv/db\\nqrv: everything is fine\\x1b[2J\n',
    'added volume db\\nqrv: everything is fine\\x1b[2J\n',
  ]);
  for (const text of [...out, ...err])
    t.equal(text.indexOf('\n'), text.length - 1, `one line: ${JSON.stringify(text)}`);
  await printer.close();
});

t.test('a fast run prints the first and the last progress line only', async (t) => {
  const { out, reporter } = setup();
  for (let percent = 0; percent <= 100; percent += 1) reporter.emit(progress(percent * MiB, 100 * MiB));
  t.same(out.map(percentOf), [0, 100], out.join(''));
});

t.test('a slow run prints a line at each new tenth, at most one per 10 s', async (t) => {
  const clock = fakeClock(t);
  const { out, reporter } = setup();
  // One event every 2.5% and every 3 s: 40 events, 120 s.
  for (let i = 0; i <= 40; i += 1) {
    reporter.emit(progress(i * 2.5 * MiB, 100 * MiB));
    clock.now += 3000;
  }
  const percents = out.map(percentOf);
  t.same(percents, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], out.join(''));
});

t.test('a very slow run still prints no more than one line per tenth', async (t) => {
  const clock = fakeClock(t);
  const { out, reporter } = setup();
  for (let i = 0; i <= 100; i += 1) {
    reporter.emit(progress(i * MiB, 100 * MiB));
    clock.now += 60_000;
  }
  t.same(out.map(percentOf), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
});

t.test('a run starting part way prints its first event, then waits for the next tenth', async (t) => {
  const clock = fakeClock(t);
  const { out, reporter } = setup();
  reporter.emit(progress(37 * MiB, 100 * MiB));
  clock.now += 20_000;
  reporter.emit(progress(39 * MiB, 100 * MiB));
  clock.now += 20_000;
  reporter.emit(progress(41 * MiB, 100 * MiB));
  t.same(out.map(percentOf), [37, 41], 'the same tenth is not repeated, the next one is');
});

t.test('a new step starts its progress afresh', async (t) => {
  const { out, reporter } = setup();
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' });
  reporter.emit(progress(0, 8 * MiB));
  reporter.emit(progress(4 * MiB, 8 * MiB));
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'done' });
  reporter.emit({ type: 'step', phase: 'verify', step: 'compare checksums', state: 'started' });
  reporter.emit(progress(0, 8 * MiB, 'verify'));
  reporter.emit(progress(8 * MiB, 8 * MiB, 'verify'));
  t.same(
    out.map((line) => (line.includes('%') ? line.split(' ').slice(0, 2).join(' ') : line)),
    ['copy: 0%', 'copy: copy blocks\n', 'verify: 0%', 'verify: 100%'],
  );
});

t.test('the last progress line is printed once even when the meter reports the end twice', async (t) => {
  const { out, reporter } = setup();
  // As src/copy/block-copy.ts does: force the first event, update per block, finish at the end.
  const meter = new ProgressMeter(reporter, 'copy', 8 * MiB, 20);
  meter.update(0, true);
  await sleep(30);
  meter.update(8 * MiB); // the last block lands in a new interval, so this one is emitted too
  meter.finish(8 * MiB);
  const hundreds = out.filter((line) => line.startsWith('copy: 100%'));
  t.equal(hundreds.length, 1, out.join(''));
});
