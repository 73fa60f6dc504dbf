// Option parsers shared by the commands; each turns a bad value into a usage error.
import { parseDuration } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, HOOK_PHASES, parseHookOptions, type HookPhase } from '../engine/hooks.ts';
import type { HookOptions } from '../services/job-options.ts';

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function hookOptions(options: { hook?: string[]; hookTimeout?: string }, phases: readonly HookPhase[] = HOOK_PHASES): HookOptions {
  const timeout = options.hookTimeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(options.hookTimeout, '--hook-timeout');
  if (timeout === null) throw new QrvError('usage', 'bad-hook-timeout', '--hook-timeout must be a finite duration', 'e.g. 30s, 5m; a hung hook must end some time');
  return { hooks: parseHookOptions(options.hook ?? [], phases), hookTimeoutMs: timeout };
}

/** run removes its snapshot after the copy unless --keep-snapshot: --persist alone would be ignored. */
export function persistWithKeep(value: string | undefined, keepSnapshot: boolean): number | null {
  if (value !== undefined && !keepSnapshot) {
    throw new QrvError('usage', 'persist-without-keep', '--persist has no effect here: run removes the snapshot after the copy', 'add --keep-snapshot to keep it for that long');
  }
  return persistOption(value);
}

export function persistOption(value: string | undefined): number | null {
  return value === undefined ? null : parseDuration(value, '--persist');
}
