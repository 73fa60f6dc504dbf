// Options that every job-running command shares (hooks and their timeout).
import type { Hooks } from '../policy/hooks.ts';

export interface HookOptions {
  hooks: Hooks;
  hookTimeoutMs: number;
}
