import t from 'tap';
import { MIN_RATE, RateLimit, parseRate, rateOf, rateText } from '../../src/core/rate.ts';
import { QrvError } from '../../src/core/errors.ts';

const MiB = 1024 * 1024;

t.test('rates are read in binary units, with or without iB and /s', async (t) => {
  t.equal(rateOf('40M'), 40 * MiB);
  t.equal(rateOf(' 40 MiB/s '), 40 * MiB);
  t.equal(rateOf('512k'), 512 * 1024);
  t.equal(rateOf('1.5G'), 1.5 * 1024 * MiB);
  t.equal(rateOf('64K'), MIN_RATE, 'the least rate');
  for (const bad of ['63K', '40', '40MB', '-1M', 'fast', '', '40M/h', '1e3M'])
    t.equal(rateOf(bad), null, `not a rate: ${JSON.stringify(bad)}`);
});

t.test('parseRate refuses a non-rate with a usage error that names the option', async (t) => {
  t.equal(parseRate('8M'), 8 * MiB);
  const error = t.throws(() => parseRate('5', '--throttle')) as QrvError;
  t.type(error, QrvError);
  t.match(error, { code: 'bad-rate', exit: 'usage', message: /--throttle 5: give a rate of at least 64K/ });
});

t.test('rateText says a rate in the largest unit it reaches', async (t) => {
  t.equal(rateText(40 * MiB), '40 MiB/s');
  t.equal(rateText(1.5 * 1024 * MiB), '1.5 GiB/s');
  t.equal(rateText(96 * 1024), '96 KiB/s');
  t.equal(rateText(1000), '1000 B/s');
});

/** A RateLimit on a clock the test moves: each wait moves it on by the time waited. */
function clocked(bytesPerSecond: number) {
  let now = 1000;
  const waits: number[] = [];
  const limit = new RateLimit(
    bytesPerSecond,
    () => now,
    async (ms) => {
      waits.push(ms);
      now += ms;
    },
  );
  return {
    limit,
    waits,
    pass: (ms: number) => (now += ms),
    at: () => now,
  };
}

t.test('a RateLimit makes the reads take as long as their bytes are due', async (t) => {
  const c = clocked(MiB);
  const start = c.at();
  for (let i = 0; i < 8; i++) await c.limit.take(MiB / 4);
  t.equal(c.at() - start, 2000, '2 MiB at 1 MiB a second: 2 s');
  t.same(c.waits, [250, 250, 250, 250, 250, 250, 250, 250]);
});

t.test('time spent elsewhere counts: a slow reader is not slowed further', async (t) => {
  const c = clocked(MiB);
  await c.limit.take(MiB / 2);
  c.pass(2000); // the disk was slow
  const before = c.waits.length;
  await c.limit.take(MiB / 2);
  t.equal(c.waits.length, before, 'no wait: the bytes were due long ago');
});

t.test('a long pause is not made up for with a burst of more than a second', async (t) => {
  const c = clocked(MiB);
  await c.limit.take(MiB);
  c.pass(60_000);
  const start = c.at();
  for (let i = 0; i < 4; i++) await c.limit.take(MiB);
  t.ok(c.at() - start >= 3000, `4 MiB after a minute's pause take at least 3 s (${c.at() - start} ms)`);
});

t.test('a real RateLimit sleeps', async (t) => {
  const limit = new RateLimit(4 * MiB);
  const start = performance.now();
  for (let i = 0; i < 4; i++) await limit.take(MiB / 4);
  const ms = performance.now() - start;
  t.ok(ms >= 240, `1 MiB at 4 MiB a second took ${ms.toFixed(0)} ms`);
});
