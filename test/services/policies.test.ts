// `qrv policy add|set` as services, against a real catalog in a temporary home: each bad value is
// refused with its exit and code (the first in the order the options are checked decides), the
// catalog byte for byte as it was; good values are kept as the rules read them.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { addPolicy, setPolicy, type PolicyChanges } from '../../src/services/policies.ts';
import { addPool } from '../../src/services/pools.ts';
import { refused } from '../helpers/assert.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2025-03-04T05:06:07.000Z';

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const catalog = await Catalog.open(path.join(dir, 'home'));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  await addPool(ctx, 'big');
  await addPolicy(ctx, 'p', {});
  return { dir, ctx, file: catalog.file };
}

t.test('each bad value: its code, for add and for set', async (t) => {
  const { ctx, file } = await setup(t);
  const cases: Array<[PolicyChanges, string, string, RegExp]> = [
    [{ unsnap: 'after-run' }, 'usage', 'bad-unsnap', /^--unsnap "after-run" is not a rule$/],
    [{ dest: 'pool:small' }, 'notFound', 'unknown-pool', /^no pool named "small"$/],
    [{ keep: '0' }, 'usage', 'bad-keep', /^--keep "0" is not a whole number ≥ 1$/],
    [{ keep: '1.5' }, 'usage', 'bad-keep', /^--keep "1\.5" is not a whole number ≥ 1$/],
    [{ keep: 'all' }, 'usage', 'bad-keep', /^--keep "all" is not/],
    [{ hookTimeout: 'never' }, 'usage', 'bad-hook-timeout', /^--hook-timeout must be a finite duration$/],
    [{ unsnap: 'after-persist' }, 'usage', 'unsnap-never', /^--unsnap after-persist with no --persist/],
    [
      { persist: 'forever', unsnap: 'after-persist' },
      'usage',
      'unsnap-never',
      /^--unsnap after-persist with no --persist/,
    ],
  ];
  for (const [changes, exit, code, message] of cases) {
    await refused(t, file, () => addPolicy(ctx, 'q', changes), exit, code, message);
    await refused(t, file, () => setPolicy(ctx, 'p', changes), exit, code, message);
  }
});

t.test('the first bad value in the order the options are checked decides', async (t) => {
  const { ctx, file } = await setup(t);
  const first = (changes: PolicyChanges, exit: string, code: string) =>
    refused(t, file, () => setPolicy(ctx, 'p', changes), exit, code, /./);
  await first({ persist: 'a while', unsnap: 'x' }, 'usage', 'bad-duration');
  await first({ unsnap: 'x', dest: 'pool:small', keep: '0' }, 'usage', 'bad-unsnap');
  await first({ dest: 'pool:small', keep: '0' }, 'notFound', 'unknown-pool');
  await first({ keep: '0', schedule: 'hourly' }, 'usage', 'bad-keep');
  await first({ keep: '0', throttle: '5', hookTimeout: 'never' }, 'usage', 'bad-keep');
  await first({ throttle: '5', archiveEvery: 'soon', hookTimeout: 'never' }, 'usage', 'bad-rate');
  await first({ archiveEvery: 'soon', hooks: ['mid-copy=true'] }, 'usage', 'bad-duration');
  await first({ hooks: ['mid-copy=true'], hookTimeout: 'never' }, 'usage', 'bad-hook');
  await first({ hookTimeout: 'never', unsnap: 'after-persist' }, 'usage', 'bad-hook-timeout');
});

t.test('good values are kept as the rules read them; none clears', async (t) => {
  const { ctx } = await setup(t);
  const set = await setPolicy(ctx, 'p', {
    persist: '7d',
    unsnap: 'after-persist',
    dest: 'replicas',
    keep: '3',
    hookTimeout: '30s',
    schedule: 'none',
  });
  t.match(set.data.policy, {
    persist: '7d',
    unsnap: 'after-persist',
    dest: path.resolve('replicas'),
    keep: 3,
    hookTimeout: '30s',
    schedule: null,
  });
  const cleared = await setPolicy(ctx, 'p', {
    dest: 'pool:big',
    keep: 'none',
    unsnap: 'after-copy',
    persist: 'forever',
  });
  t.match(cleared.data.policy, { dest: 'pool:big', keep: null, unsnap: 'after-copy', persist: null });
  const none = await setPolicy(ctx, 'p', { dest: 'NONE' });
  t.match(none.data.policy, { dest: null });
});
