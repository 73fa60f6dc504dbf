// QRV_FAILPOINTS is read as a whole at start-up: anything it does not understand is one usage error.
import t from 'tap';
import { checkFailpoints, parseFailpoints } from '../../src/core/failpoints.ts';

t.test('parseFailpoints reads NAME=ACTION lists', async (t) => {
  t.same(
    [...parseFailpoints('after-freeze=sleep:150, mid-copy=error,before-commit=kill')],
    [
      ['after-freeze', { kind: 'sleep', ms: 150 }],
      ['mid-copy', { kind: 'error' }],
      ['before-commit', { kind: 'kill' }],
    ],
  );
  t.same([...parseFailpoints(undefined)], []);
  t.same([...parseFailpoints(' ')], []);
});

t.test('parseFailpoints refuses unknown names, unknown actions and timers Node cannot set', async (t) => {
  for (const [spec, what] of [
    ['after-snapshot=bogus', /"bogus" is not an action for after-snapshot/],
    ['aftr-freeze=kill', /"aftr-freeze=kill" does not name a failpoint/],
    ['after-freeze', /"after-freeze" does not name a failpoint/],
    ['after-freeze=sleep:2147483648', /"sleep:2147483648" is not an action/],
  ] as const) {
    t.throws(() => parseFailpoints(spec), { exit: 'usage', code: 'bad-failpoints', message: what }, spec);
  }
  const saved = process.env.QRV_FAILPOINTS;
  process.env.QRV_FAILPOINTS = 'mid-copy=explode';
  t.throws(() => checkFailpoints(), { code: 'bad-failpoints' }, 'checkFailpoints reads the environment');
  if (saved === undefined) delete process.env.QRV_FAILPOINTS;
  else process.env.QRV_FAILPOINTS = saved;
});
