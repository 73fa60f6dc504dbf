// Option parsers shared by the commands; each turns a bad value into a usage error.
import { parseDuration } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, HOOK_PHASES, parseHookOptions, type HookPhase } from '../engine/hooks.ts';
import type { HookOptions } from '../services/job-options.ts';
import { parseMaxFreeze } from '../policy/rules.ts';

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function hookOptions(options: { hook?: string[]; hookTimeout?: string }, phases: readonly HookPhase[] = HOOK_PHASES): HookOptions {
  const timeout = options.hookTimeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(options.hookTimeout, '--hook-timeout');
  if (timeout === null) throw new QrvError('usage', 'bad-hook-timeout', '--hook-timeout must be a finite duration', 'e.g. 30s, 5m; a hung hook must end some time');
  return { hooks: parseHookOptions(options.hook ?? [], phases), hookTimeoutMs: timeout };
}

export function persistOption(value: string | undefined): number | null {
  return value === undefined ? null : parseDuration(value, '--persist');
}

/** --max-freeze: a finite duration up to ten minutes (issue 18). */
export const maxFreezeOption = (value: string): number => parseMaxFreeze(value);
