// The rules one job follows: the policy's, with the command line's on top (here: --checkpoint,
// how application writers checkpoint before the snapshot, and --throttle).
import t from 'tap';
import type { Policy } from '../../src/catalog/schema.ts';
import { isQrvError } from '../../src/core/errors.ts';
import { parseCheckpoint, rulesFor } from '../../src/policy/rules.ts';
import { writerOptions } from '../../src/services/app-objects.ts';
import { newPolicyRow } from '../../src/services/policies.ts';

const policy = (fields: Partial<Policy>): Policy => ({ ...newPolicyRow('p', '2026-12-04T00:00:00.000Z'), ...fields });

t.test("--checkpoint: fast by default, the policy's, the command line's over both", async (t) => {
  t.equal(rulesFor(null).checkpoint, 'fast');
  t.equal(rulesFor(policy({})).checkpoint, 'fast', 'a policy that says nothing');
  t.equal(rulesFor(policy({ checkpoint: 'spread' })).checkpoint, 'spread');
  t.equal(rulesFor(policy({ checkpoint: 'spread' }), { checkpoint: 'fast' }).checkpoint, 'fast');
  t.equal(rulesFor(null, { checkpoint: 'spread' }).checkpoint, 'spread');
});

t.test("--throttle: no limit by default, the policy's, the command line's over it", async (t) => {
  const MiB = 1024 * 1024;
  t.equal(rulesFor(null).throttle, null);
  t.equal(rulesFor(policy({})).throttle, null, 'a policy that says nothing');
  t.equal(rulesFor(policy({ throttle: '40M' })).throttle, 40 * MiB);
  t.equal(rulesFor(policy({ throttle: '40M' }), { throttle: 8 * MiB }).throttle, 8 * MiB);
  // a value the catalog holds that qrv refuses (written by hand): one error naming the policy
  t.throws(() => rulesFor(policy({ throttle: '5' })), {
    code: 'policy-bad-value',
    message: /policy "p" holds --throttle "5"/,
  });
});

t.test('parseCheckpoint takes fast and spread only', async (t) => {
  t.equal(parseCheckpoint('fast'), 'fast');
  t.equal(parseCheckpoint('spread'), 'spread');
  for (const bad of ['', 'Fast', 'immediate', 'spread ']) {
    const error = (() => {
      try {
        parseCheckpoint(bad);
        return null;
      } catch (e) {
        return e;
      }
    })();
    t.ok(isQrvError(error) && error.code === 'bad-checkpoint' && error.exitCode === 2, `"${bad}" refused`);
  }
});

t.test("a group's writers: the shortest hook timeout, spread when any member asks for it", async (t) => {
  const member = (hookTimeoutMs: number, checkpoint: 'fast' | 'spread') => ({ rules: { hookTimeoutMs, checkpoint } });
  t.same(writerOptions([member(300_000, 'fast'), member(60_000, 'fast')]), { timeoutMs: 60_000, checkpoint: 'fast' });
  t.same(writerOptions([member(300_000, 'fast'), member(60_000, 'spread')]), {
    timeoutMs: 60_000,
    checkpoint: 'spread',
  });
});
