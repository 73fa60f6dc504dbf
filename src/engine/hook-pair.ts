// A phase's pre- and post-hook as a pair: the pre-hook runs first and a failure aborts the phase;
// once it succeeded, the post-hook runs whatever happens next (as a thaw does), with
// QRV_STATUS=ok or failed, so a hook that froze or mounted something can always undo it. A failed
// post-hook is a warning on the job, not a failure of it.
import type { Phase } from '../core/events.ts';
import type { Context } from './context.ts';
import { hookEnv, runHook, type HookFacts } from './hooks.ts';
import { type HookPhase, type Hooks } from '../policy/hooks.ts';
import type { JobRecorder } from './job-recorder.ts';

export interface HookPair {
  phase: Phase;
  pre: HookPhase;
  post: HookPhase;
  hooks: Hooks;
  timeoutMs: number;
}

export async function withHookPair<T>(
  ctx: Context,
  job: JobRecorder,
  pair: HookPair,
  facts: () => HookFacts,
  body: () => Promise<T>,
): Promise<T> {
  const pre = pair.hooks[pair.pre];
  if (pre)
    await job.step(pair.phase, `${pair.pre} hook`, () =>
      runHook(pair.pre, pre, hookEnv(pair.pre, facts()), pair.timeoutMs, ctx.reporter),
    );
  let status: 'ok' | 'failed' = 'failed';
  try {
    const result = await body();
    status = 'ok';
    return result;
  } finally {
    const post = pair.hooks[pair.post];
    if (post) {
      const env = { ...hookEnv(pair.post, facts()), QRV_STATUS: status };
      await job
        .step(pair.phase, `${pair.post} hook`, () => runHook(pair.post, post, env, pair.timeoutMs, ctx.reporter))
        .catch((error: Error) => job.warn(`${pair.post} hook: ${error.message}`));
    }
  }
}
