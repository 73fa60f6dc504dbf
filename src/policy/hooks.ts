// The hooks an admin gives (`--hook PHASE=COMMAND`, on a policy or a command line): which phases
// there are, what a hook may be, and how the option is read. Running them is the engine's
// (engine/hooks.ts); this is what the command line and the policies agree on.
import { QrvError } from '../core/errors.ts';

export const HOOK_PHASES = ['pre-snapshot', 'post-snapshot', 'pre-copy', 'post-copy'] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];
export type Hooks = Partial<Record<HookPhase, string>>;

export const DEFAULT_HOOK_TIMEOUT_MS = 300_000;

/** Parses repeated `--hook phase=command` options; `allowed` are the phases the command runs. */
export function parseHookOptions(values: string[], allowed: readonly HookPhase[] = HOOK_PHASES): Hooks {
  const hooks: Hooks = {};
  for (const value of values) {
    const at = value.indexOf('=');
    const phase = at > 0 ? value.slice(0, at) : value;
    if (!(HOOK_PHASES as readonly string[]).includes(phase) || at < 0 || value.slice(at + 1).trim() === '') {
      throw new QrvError(
        'usage',
        'bad-hook',
        `--hook "${value}" is not PHASE=COMMAND`,
        `PHASE is one of ${HOOK_PHASES.join(', ')}`,
      );
    }
    if (!(allowed as readonly string[]).includes(phase)) {
      throw new QrvError(
        'usage',
        'hook-not-run',
        `this command never runs the ${phase} phase, so --hook ${phase}=… would never run`,
        `this command runs hooks for: ${allowed.join(', ')}`,
      );
    }
    if (hooks[phase as HookPhase] !== undefined) {
      throw new QrvError(
        'usage',
        'hook-twice',
        `--hook ${phase} is given twice`,
        'give one command per phase; to run several, put them in one script',
      );
    }
    hooks[phase as HookPhase] = value.slice(at + 1);
  }
  return hooks;
}
