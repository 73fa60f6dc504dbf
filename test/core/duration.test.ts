// Durations as admins write them, and the human forms of byte counts and seconds.
import t from 'tap';
import {
  DURATION_LIMIT,
  formatBytes,
  formatSeconds,
  parseDuration,
  TIMER_LIMIT,
  untilFrom,
} from '../../src/core/duration.ts';
import { QrvError } from '../../src/core/errors.ts';

const s = 1000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

t.test('parseDuration reads a number and a unit', async (t) => {
  const good: Array<[string, number]> = [
    ['500ms', 500],
    ['90s', 90 * s],
    ['30m', 30 * m],
    ['12h', 12 * h],
    ['7d', 7 * d],
    ['2w', 14 * d],
    ['1y', 365.25 * d],
    ['1.5h', 1.5 * h],
    [' 7d ', 7 * d],
    ['7 d', 7 * d],
    ['7D', 7 * d],
    ['10 secs', 10 * s],
    ['5 mins', 5 * m],
    ['3 hrs', 3 * h],
    ['2 days', 2 * d],
    ['1 week', 7 * d],
  ];
  for (const [text, ms] of good) t.equal(parseDuration(text), ms, JSON.stringify(text));
});

t.test('parseDuration reads forever, never and none as null', async (t) => {
  for (const text of ['forever', 'never', 'none', ' Forever ', 'NEVER'])
    t.equal(parseDuration(text), null, JSON.stringify(text));
});

t.test('parseDuration refuses what it would have to guess at', async (t) => {
  const bad = [
    '',
    ' ',
    '7',
    '-5m',
    '0s',
    '0',
    'abc',
    '7 fortnights',
    '1e3s',
    '5m30s',
    '.5h',
    'h',
    '1,5h',
    'forever and ever',
    '10 s ago',
    'Infinity',
  ];
  for (const text of bad) {
    let error: unknown;
    try {
      parseDuration(text, '--persist');
    } catch (caught) {
      error = caught;
    }
    t.ok(error instanceof QrvError, `${JSON.stringify(text)} is refused`);
    t.match(error, { exit: 'usage', code: 'bad-duration', message: `--persist "${text}" is not a duration` });
  }
  t.throws(
    () => parseDuration('x'),
    { message: 'duration "x" is not a duration' },
    'names "duration" when not told what',
  );
});

t.test('parseDuration accepts the long unit names alike', async (t) => {
  // "2 days" and "1 week" are accepted, so the other units' long names should be too.
  for (const [text, ms] of [
    ['30 seconds', 30 * s],
    ['5 minutes', 5 * m],
    ['12 hours', 12 * h],
    ['1 hour', h],
  ] as const) {
    let value: number | null | undefined;
    try {
      value = parseDuration(text);
    } catch {
      value = undefined;
    }
    t.equal(value, ms, JSON.stringify(text));
  }
});

t.test('untilFrom adds the duration, or is null for forever', async (t) => {
  const from = new Date('2025-03-01T00:00:00.000Z');
  t.equal(untilFrom(from, 7 * d), '2025-03-08T00:00:00.000Z');
  t.equal(untilFrom(from, null), null);
});

t.test('formatBytes uses binary units', async (t) => {
  t.equal(formatBytes(0), '0 B');
  t.equal(formatBytes(1023), '1023 B');
  t.equal(formatBytes(1024), '1.00 KiB');
  t.equal(formatBytes(1536), '1.50 KiB');
  t.equal(formatBytes(10 * 1024), '10.0 KiB', 'one decimal from 10 up');
  t.equal(formatBytes(64 * 1024 * 1024), '64.0 MiB');
  t.equal(formatBytes(4 * 1024 ** 3), '4.00 GiB');
  t.equal(formatBytes(1.5 * 1024 ** 4), '1.50 TiB');
  t.equal(formatBytes(2048 * 1024 ** 5), '2048.0 PiB', 'stops at PiB');
});

t.test('formatSeconds', async (t) => {
  t.equal(formatSeconds(0), '0.0s');
  t.equal(formatSeconds(3.26), '3.3s', 'one decimal below 10 s');
  t.equal(formatSeconds(42.4), '42s', 'whole seconds from 10 s');
  t.equal(formatSeconds(60), '1m00s');
  t.equal(formatSeconds(185), '3m05s');
  t.equal(formatSeconds(3599.4), '59m59s');
  t.equal(formatSeconds(3600), '1h00m');
  t.equal(formatSeconds(3725), '1h02m');
  t.equal(formatSeconds(27 * 3600 + 60), '27h01m', 'no days unit');
});

t.test('rounding at a unit boundary moves to the next unit', async (t) => {
  t.equal(formatSeconds(59.7), '1m00s', '59.7 s');
  t.equal(formatBytes(1024 * 1024 - 1), '1.00 MiB', '1 MiB - 1 byte');
});

t.test('parseDuration refuses a duration beyond its limit, naming the limit and why', async (t) => {
  // 1000000000d made an Invalid Date (RangeError) halfway through a snapshot; 30d fired a hook's timer at once.
  for (const text of ['1000000000d', '300000y', '101y', '5300w']) {
    t.throws(
      () => parseDuration(text, '--persist'),
      {
        exit: 'usage',
        code: 'duration-too-long',
        message: `--persist "${text}" is longer than the limit of 100 years`,
      },
      text,
    );
  }
  t.equal(parseDuration('100y', '--persist'), DURATION_LIMIT.ms, '100 years is the limit itself');
  t.doesNotThrow(() => untilFrom(new Date(), parseDuration('100y')), 'a date 100 years from now is a date');
  t.throws(() => parseDuration('30d', '--hook-timeout', TIMER_LIMIT), {
    code: 'duration-too-long',
    message: '--hook-timeout "30d" is longer than the limit of 24 days (2^31-1 ms)',
  });
  t.equal(parseDuration('24d', '--hook-timeout', TIMER_LIMIT), 24 * d, '24 days fits a timer');
  t.equal(TIMER_LIMIT.ms, 2 ** 31 - 1);
  let hint = '';
  try {
    parseDuration('25d', '--hook-timeout', TIMER_LIMIT);
  } catch (error) {
    hint = (error as QrvError).hint ?? '';
  }
  t.match(hint, /24d or less/, 'the hint says what to give instead');
});
