// Option parsers shared by the commands; each turns a bad value into a usage error.
import { parseDuration } from '../core/duration.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, parseHookOptions } from '../engine/hooks.ts';
import type { HookOptions } from '../services/job-options.ts';

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function hookOptions(options: { hook?: string[]; hookTimeout?: string }): HookOptions {
  const timeout = options.hookTimeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(options.hookTimeout, '--hook-timeout');
  return { hooks: parseHookOptions(options.hook ?? []), hookTimeoutMs: timeout ?? DEFAULT_HOOK_TIMEOUT_MS };
}

export function persistOption(value: string | undefined): number | null {
  return value === undefined ? null : parseDuration(value, '--persist');
}
