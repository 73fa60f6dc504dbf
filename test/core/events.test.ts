// The Reporter fan-out and the ProgressMeter's throttling, rate and time left.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProgressMeter, Reporter, type QrvEvent } from '../../src/core/events.ts';

type Progress = Extract<QrvEvent, { type: 'progress' }>;

function collect(reporter: Reporter): QrvEvent[] {
  const events: QrvEvent[] = [];
  reporter.subscribe((event) => events.push(event));
  return events;
}

t.test('every subscriber gets every event, in order', async (t) => {
  const reporter = new Reporter();
  const a = collect(reporter);
  const b = collect(reporter);
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' });
  reporter.info('hello');
  reporter.warn('careful');
  const expected: QrvEvent[] = [
    { type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' },
    { type: 'info', message: 'hello' },
    { type: 'warning', message: 'careful' },
  ];
  t.same(a, expected);
  t.same(b, expected);
});

t.test('unsubscribe stops only that listener, and twice is harmless', async (t) => {
  const reporter = new Reporter();
  const a: string[] = [];
  const b: string[] = [];
  const offA = reporter.subscribe((e) => a.push(e.type));
  reporter.subscribe((e) => b.push(e.type));
  reporter.info('one');
  offA();
  reporter.info('two');
  offA();
  reporter.info('three');
  t.same(a, ['info'], 'a saw only the first');
  t.same(b, ['info', 'info', 'info'], 'b saw all three, also after a unsubscribed twice');

  const same = (): void => undefined;
  const off1 = reporter.subscribe(same);
  const seen: string[] = [];
  reporter.subscribe((e) => seen.push(e.type));
  off1();
  off1();
  reporter.info('four');
  t.same(seen, ['info'], 'the listener after it still receives');
});

t.test('a listener that unsubscribes while handling an event does not hide it from the next', async (t) => {
  const reporter = new Reporter();
  const off = reporter.subscribe(() => off());
  const seen: string[] = [];
  reporter.subscribe((e) => seen.push(e.type));
  reporter.info('once');
  t.same(seen, ['info'], 'the next listener got the event');
  reporter.info('again');
  t.equal(seen.at(-1), 'info', 'and later events');
});

t.test('ProgressMeter throttles updates and finish always emits', async (t) => {
  const reporter = new Reporter();
  const events = collect(reporter) as Progress[];
  const meter = new ProgressMeter(reporter, 'copy', 1000, 80);
  meter.update(10);
  t.equal(events.length, 0, 'an update inside the first interval is held back');
  meter.update(0, true);
  t.equal(events.length, 1, 'force emits at once');
  meter.update(20);
  t.equal(events.length, 1, 'held back again right after an emit');
  await sleep(100);
  meter.update(300);
  t.equal(events.length, 2, 'emits once the interval has passed');
  meter.update(310);
  meter.update(320);
  t.equal(events.length, 2, 'and then holds back again');
  meter.finish(1000);
  t.equal(events.length, 3, 'finish emits even inside the interval');
  t.same(
    events.map((e) => [e.type, e.phase, e.bytesDone, e.bytesTotal]),
    [
      ['progress', 'copy', 0, 1000],
      ['progress', 'copy', 300, 1000],
      ['progress', 'copy', 1000, 1000],
    ],
  );
});

t.test('ProgressMeter rate and time left are sane', async (t) => {
  const reporter = new Reporter();
  const events = collect(reporter) as Progress[];
  const before = performance.now();
  const meter = new ProgressMeter(reporter, 'verify', 10_000_000);
  meter.update(0, true);
  t.equal(events[0]?.rate, 0, 'no rate before any bytes');
  t.equal(events[0]?.etaSeconds, null, 'time left unknown before any bytes');

  await sleep(250);
  meter.update(2_500_000);
  const elapsed = (performance.now() - before) / 1000;
  const p = events[1];
  if (!p) throw new Error('no progress event after 250 ms');
  // ≈ 10 MB/s: at least bytes / (time since before construction), at most bytes / 0.24 s (a
  // timer may fire a little before its 250 ms as the monotonic clock counts them).
  t.ok(p.rate >= 2_500_000 / elapsed && p.rate <= 2_500_000 / 0.24, `rate ${p.rate.toFixed(0)} B/s`);
  t.ok(
    p.etaSeconds !== null && Math.abs(p.etaSeconds * p.rate - 7_500_000) < 1,
    `eta ${p.etaSeconds} s covers the bytes left at this rate`,
  );
  t.ok(
    p.etaSeconds !== null && p.etaSeconds >= 3 * 0.24 && p.etaSeconds <= 3 * elapsed,
    `three times the time taken so far for three times the bytes (${p.etaSeconds} s)`,
  );

  meter.finish(10_000_000);
  t.equal(events.at(-1)?.etaSeconds, 0, 'nothing left when finished');
  meter.finish(12_000_000);
  t.equal(events.at(-1)?.etaSeconds, 0, 'never a negative time left');
});
