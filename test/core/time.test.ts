// Points in time as admins type them (--as-of, --persist).
import t from 'tap';
import { QrvError } from '../../src/core/errors.ts';
import { parseTime, persistUntil } from '../../src/core/time.ts';

// A fixed local clock: 2026-12-01 03:07:10 local time (whatever TZ the tests run in).
const now = new Date(2026, 11, 1, 3, 7, 10, 500);
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s, 0).getTime();

t.test('keeps what it read before: ISO times, now, "<duration> ago"', async (t) => {
  t.equal(parseTime('now', now).getTime(), now.getTime());
  t.equal(parseTime(' NOW ', now).getTime(), now.getTime());
  t.equal(parseTime('2h ago', now).getTime(), now.getTime() - 2 * 3600_000);
  t.equal(parseTime('90 minutes ago', now).getTime(), now.getTime() - 90 * 60_000);
  t.equal(parseTime('2026-11-25T18:00Z', now).toISOString(), '2026-11-25T18:00:00.000Z');
  t.equal(parseTime('2026-11-25T18:00+01:00', now).toISOString(), '2026-11-25T17:00:00.000Z');
  t.equal(
    parseTime('2026-11-25', now).toISOString(),
    '2026-11-25T00:00:00.000Z',
    'a date alone is midnight UTC (JavaScript rules, as documented)',
  );
  t.equal(
    parseTime('2026-11-25T18:00', now).getTime(),
    local(2026, 11, 25, 18, 0),
    'a date-time without a zone is local',
  );
});

t.test('reads today and yesterday, with an optional local clock time', async (t) => {
  t.equal(parseTime('yesterday', now).getTime(), local(2026, 11, 30), 'yesterday: local midnight');
  t.equal(parseTime('today', now).getTime(), local(2026, 12, 1), 'today: local midnight');
  t.equal(parseTime('yesterday 18:00', now).getTime(), local(2026, 11, 30, 18, 0));
  t.equal(
    parseTime('today 09:30', now).getTime(),
    local(2026, 12, 1, 9, 30),
    'a time later today is fine (resolve then finds nothing newer)',
  );
  t.equal(parseTime('Yesterday 7:05:09', now).getTime(), local(2026, 11, 30, 7, 5, 9));
  t.equal(parseTime('  today   23:59 ', now).getTime(), local(2026, 12, 1, 23, 59));
  // over a month and a year boundary
  const newYear = new Date(2027, 0, 1, 0, 30);
  t.equal(parseTime('yesterday 18:00', newYear).getTime(), local(2026, 12, 31, 18, 0));
});

t.test('refuses what it would have to guess at', async (t) => {
  for (const text of [
    '',
    'yesterday 24:00',
    'today 9',
    'today 09:60',
    'tomorrow',
    'the day before',
    'yesterday at 18:00',
    '18:00',
    'last week',
    '2 h',
    'ago',
  ]) {
    let error: unknown;
    try {
      parseTime(text, now, '--as-of');
    } catch (caught) {
      error = caught;
    }
    t.ok(error instanceof QrvError, `${JSON.stringify(text)} refused`);
    t.match(error, { exit: 'usage', code: /^bad-(time|duration)$/ }, JSON.stringify(text));
  }
  t.throws(() => parseTime('yesterday noon', now, '--as-of'), {
    code: 'bad-time',
    message: '--as-of "yesterday noon" is not a time',
  });
});

t.test('persistUntil: a duration from now, an ISO time as it is, forever as null', async (t) => {
  t.equal(persistUntil('7d', now), new Date(now.getTime() + 7 * 86400_000).toISOString());
  t.equal(persistUntil('2026-12-31T00:00Z', now), '2026-12-31T00:00:00.000Z');
  t.equal(persistUntil('forever', now), null);
});
