import t from 'tap';
import { copyDue, nextTimeOfDay, parseCopyTiming } from '../../src/policy/copy-timing.ts';
import { parseSchedule, scheduleDue } from '../../src/policy/schedule.ts';
import { rulesFor } from '../../src/policy/rules.ts';
import { newPolicyRow } from '../../src/services/policies.ts';

t.test('copy timings parse, and bad ones are refused with the reason', async (t) => {
  t.same(parseCopyTiming('now'), { mode: 'now' });
  t.same(parseCopyTiming('never'), { mode: 'never' });
  t.same(parseCopyTiming('after:2h'), { mode: 'after', ms: 7_200_000 });
  t.same(parseCopyTiming('at:02:30'), { mode: 'at', hour: 2, minute: 30 });
  t.same(parseCopyTiming('oldest:3'), { mode: 'oldest', keep: 3 });
  for (const bad of [
    'later',
    'after:',
    'after:soon',
    'after:forever',
    'at:24:00',
    'at:2:3',
    'oldest:0',
    'oldest:x',
    'at',
    '',
  ]) {
    t.throws(() => parseCopyTiming(bad), { code: 'bad-copy-timing' }, bad);
  }
});

t.test('when a copy is due', async (t) => {
  const taken = new Date(2026, 10, 25, 10, 0, 0);
  const plus = (ms: number) => new Date(taken.getTime() + ms);
  t.ok(copyDue({ mode: 'now' }, taken, taken, 0));
  t.notOk(copyDue({ mode: 'never' }, taken, plus(1e12), 0));
  t.notOk(copyDue({ mode: 'after', ms: 3_600_000 }, taken, plus(3_599_999), 0), 'just before');
  t.ok(copyDue({ mode: 'after', ms: 3_600_000 }, taken, plus(3_600_000), 0), 'exactly then');
  const at = { mode: 'at', hour: 2, minute: 30 } as const;
  t.same(nextTimeOfDay(taken, 2, 30), new Date(2026, 10, 26, 2, 30), 'the next 02:30 is tomorrow');
  t.same(nextTimeOfDay(taken, 11, 0), new Date(2026, 10, 25, 11, 0), 'the next 11:00 is today');
  t.notOk(copyDue(at, taken, new Date(2026, 10, 26, 2, 29), 0));
  t.ok(copyDue(at, taken, new Date(2026, 10, 26, 2, 30), 0));
  t.notOk(copyDue({ mode: 'oldest', keep: 2 }, taken, taken, 1), 'one newer: keep waiting');
  t.ok(copyDue({ mode: 'oldest', keep: 2 }, taken, taken, 2), 'two newer: this one falls out');
});

t.test('schedules', async (t) => {
  t.throws(() => parseSchedule('every hour'), { code: 'bad-schedule' });
  t.throws(() => parseSchedule('61 * * * *'), { code: 'bad-schedule' });
  const since = new Date('2026-11-25T10:00:00Z');
  t.notOk(scheduleDue('0 */6 * * *', since, new Date('2026-11-25T11:59:59Z')));
  t.ok(scheduleDue('0 */6 * * *', new Date('2026-11-25T05:30:00Z'), new Date('2026-11-25T06:00:00Z')));
  t.ok(scheduleDue('* * * * * *', since, new Date(since.getTime() + 1000)), 'six fields: seconds');
});

t.test('rules: the command line on top of the policy', async (t) => {
  const policy = {
    name: 'p',
    persist: '7d',
    copy: 'after:1h',
    unsnap: 'after-persist' as const,
    dest: '/q',
    keep: 3,
    schedule: null,
    hooks: { 'pre-snapshot': 'a', 'post-copy': 'b' },
    hookTimeout: '10s',
    incremental: false,
    createdAt: '',
    updatedAt: '',
  };
  const rules = rulesFor(policy);
  t.match(rules, {
    policy: 'p',
    persistMs: 7 * 86_400_000,
    dest: '/q',
    timing: { mode: 'after', ms: 3_600_000 },
    removeAfterCopy: false,
    hookTimeoutMs: 10_000,
  });
  const over = rulesFor(policy, {
    to: '/elsewhere',
    persistMs: null,
    hooks: { 'pre-snapshot': 'c' },
    hookTimeoutMs: 5,
  });
  t.match(over, {
    dest: '/elsewhere',
    timing: { mode: 'now' },
    persistMs: null,
    hooks: { 'pre-snapshot': 'c', 'post-copy': 'b' },
    hookTimeoutMs: 5,
  });
  t.match(rulesFor(null, { to: '/x' }), {
    policy: null,
    timing: { mode: 'now' },
    removeAfterCopy: true,
    hookTimeoutMs: 300_000,
  });
  t.match(rulesFor(null, { to: '/x', keepSnapshot: true }), { removeAfterCopy: false });
});

t.test('a policy row holding a value qrv now refuses is one error naming the policy and the fix', async (t) => {
  // A catalog written before durations were bounded: reading its rules must not become an
  // internal error halfway through every run.
  const base = { ...newPolicyRow('long', '2026-01-01T00:00:00.000Z'), unsnap: 'after-persist' } as const;
  t.throws(() => rulesFor({ ...base, persist: '1000000000d' }), {
    exit: 'catalog',
    code: 'policy-bad-value',
    message: /^policy "long" holds --persist "1000000000d", which qrv refuses: .*limit of 100 years/,
    hint: /qrv policy set long --persist/,
  });
  t.throws(() => rulesFor({ ...base, hookTimeout: '30d' }), {
    code: 'policy-bad-value',
    message: /--hook-timeout "30d".*24 days/,
  });
  t.throws(() => rulesFor({ ...base, copy: 'after:300000y' }), {
    code: 'policy-bad-value',
    message: /--copy "after:300000y"/,
  });
  t.equal(
    rulesFor({ ...base, persist: '1000000000d' }, { persistMs: 60_000 }).persistMs,
    60_000,
    'an override given on the command line is used instead',
  );
  t.equal(rulesFor({ ...base, hookTimeout: '30d' }, { hookTimeoutMs: 1000 }).hookTimeoutMs, 1000);
});
