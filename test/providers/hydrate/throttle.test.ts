// --throttle: a share of the kernel's time written where dm_mirror takes it, or a rate that a Pacer
// keeps by steering that share. The Pacer is driven here by a model of kcopyd (the rate grows with
// the share, not quite in proportion, with noise); the VM lane (vm-instant-1.sh) measures it against
// the real kernel.
import fs from 'node:fs/promises';
import t from 'tap';
import {
  nextPercent,
  Pacer,
  parseThrottle,
  setResyncThrottle,
  START_PERCENT,
  WINDOW_MS,
} from '../../../src/providers/hydrate/throttle.ts';

const MiB = 2 ** 20;

t.test('the share: a whole percentage, written where the module takes it', async (t) => {
  const dir = await fs.mkdtemp('/tmp/qrv-throttle-');
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = `${dir}/raid1_resync_throttle`;
  await setResyncThrottle(25, file);
  t.equal(await fs.readFile(file, 'utf8'), '25\n');
  for (const bad of [0, 101, 2.5, Number.NaN]) await t.rejects(setResyncThrottle(bad, file), { code: 'usage' });
  await t.rejects(setResyncThrottle(5, `${dir}/none/x`), {
    code: 'write-failed',
    hint: /is the dm_mirror module loaded/,
  });
});

t.test('--throttle: 25% is a share, 40M a rate (binary units)', async (t) => {
  t.same(parseThrottle('25%'), { percent: 25 });
  t.same(parseThrottle(' 100 % '), { percent: 100 });
  t.same(parseThrottle('40M'), { bytesPerSecond: 40 * MiB });
  t.same(parseThrottle('40MiB/s'), { bytesPerSecond: 40 * MiB });
  t.same(parseThrottle('512k'), { bytesPerSecond: 512 * 1024 });
  t.same(parseThrottle('1.5G'), { bytesPerSecond: 1.5 * 1024 * MiB });
  for (const bad of ['25', '0%', '101%', '2.5%', '40', '40X', '32K', 'fast', '', '-1M'])
    t.throws(
      () => parseThrottle(bad),
      { code: 'usage', message: /give a share of time from 1% to 100%, or a rate/ },
      bad,
    );
});

t.test('nextPercent moves towards the rate, by at least a step, within 1-100', async (t) => {
  t.equal(nextPercent(10, 100, 100), 10, 'on target: stays');
  t.equal(nextPercent(10, 105, 100), 10, 'within a tenth: stays');
  t.equal(nextPercent(16, 400, 100), 8, 'four times too fast: half the share (the square root)');
  t.equal(nextPercent(10, 25, 100), 20, 'four times too slow: twice the share');
  t.equal(nextPercent(10, 1, 1000), 40, 'far too slow: at most four times');
  t.equal(nextPercent(1, 130, 100), 1, 'never under 1 %');
  t.equal(nextPercent(2, 130, 100), 1, 'a small share still moves by a step');
  t.equal(nextPercent(80, 10, 100), 100, 'never over 100 %');
  t.equal(nextPercent(7, 0, 100), 14, 'nothing copied in a window: doubles');
});

/** kcopyd as a model: `full` bytes/s at 100 %, rate ∝ share^shape, ±noise; the Pacer reads every 500 ms. */
async function simulate(target: number, full: number, shape: number, seconds = 60) {
  let percent = 0;
  const pacer = new Pacer(target, START_PERCENT, async (p) => void (percent = p));
  percent = pacer.percent;
  let done = 0;
  const rates: number[] = [];
  let seed = 7;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
  for (let ms = 0; ms <= seconds * 1000; ms += 500) {
    await pacer.observe(ms, done);
    const rate = full * (percent / 100) ** shape * (1 + noise());
    rates.push(rate);
    done += rate / 2;
  }
  return { rates, percent, average: done / seconds };
}

t.test('a Pacer brings the copy to the rate and keeps it there', async (t) => {
  for (const [full, shape] of [
    [1000 * MiB, 1],
    [200 * MiB, 1],
    [300 * MiB, 0.6],
    [60 * MiB, 1.3],
  ] as const) {
    const target = 40 * MiB;
    const { rates, average } = await simulate(target, full, shape);
    const settled = rates.slice(20); // after 10 s
    const mean = settled.reduce((a, b) => a + b, 0) / settled.length;
    t.ok(
      Math.abs(mean / target - 1) < 0.15,
      `${full / MiB} MiB/s at 100 %, shape ${shape}: ${(mean / MiB).toFixed(1)} MiB/s`,
    );
    t.ok(average < 1.15 * target, `over the whole copy ${(average / MiB).toFixed(1)} MiB/s, not over the rate`);
  }
  const slow = await simulate(100 * MiB, 30 * MiB, 1);
  t.equal(slow.percent, 100, 'a rate above what the disks give: the full share');
  const fast = await simulate(1 * MiB, 4000 * MiB, 1);
  t.equal(fast.percent, 1, 'a rate below what 1 % gives: 1 %, the least there is');
});

t.test('a Pacer waits a window before it changes the share', async (t) => {
  const set: number[] = [];
  const pacer = new Pacer(10 * MiB, 20, async (p) => void set.push(p));
  await pacer.observe(0, 0);
  await pacer.observe(WINDOW_MS - 1, 100 * MiB);
  t.same(set, [], 'under a window: nothing');
  await pacer.observe(WINDOW_MS, 200 * MiB);
  t.same(set, [5], 'twenty times too fast: a quarter of the share, the most it moves at once');
  t.equal(pacer.percent, 5);
});
