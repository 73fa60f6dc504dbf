// Option parsers shared by the commands; each turns a bad value into a usage error.
import { InvalidArgumentError } from 'commander';
import { parseDuration, TIMER_LIMIT } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { parseRate } from '../core/rate.ts';
import { hasControl } from '../core/text.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, HOOK_PHASES, parseHookOptions, type HookPhase } from '../policy/hooks.ts';
import type { HookOptions } from '../services/job-options.ts';
import { parseMaxFreeze } from '../policy/rules.ts';

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function hookOptions(
  options: { hook?: string[]; hookTimeout?: string },
  phases: readonly HookPhase[] = HOOK_PHASES,
): HookOptions {
  const timeout =
    options.hookTimeout === undefined
      ? DEFAULT_HOOK_TIMEOUT_MS
      : parseDuration(options.hookTimeout, '--hook-timeout', TIMER_LIMIT);
  if (timeout === null)
    throw new QrvError(
      'usage',
      'bad-hook-timeout',
      '--hook-timeout must be a finite duration',
      'e.g. 30s, 5m; a hung hook must end some time',
    );
  return { hooks: parseHookOptions(options.hook ?? [], phases), hookTimeoutMs: timeout };
}

/** --throttle RATE of a copy or a verify: { throttle: bytes a second }, or nothing when not given. */
export function throttleOption(options: { throttle?: string }): { throttle?: number } {
  return options.throttle !== undefined ? { throttle: parseRate(options.throttle) } : {};
}

export function persistOption(value: string | undefined): number | null {
  return value === undefined ? null : parseDuration(value, '--persist');
}

/**
 * Commander's parser for an option or argument that names a file, folder or device: an empty
 * value is a usage error (Node would take it for the current folder), never a path.
 */
export function pathValue(value: string): string {
  if (value.trim() === '')
    throw new InvalidArgumentError(
      'an empty path names nothing: give a file, folder or device (. for the current folder)',
    );
  return value;
}

/** pathValue for a repeatable option. */
export const collectPaths = (value: string, previous: string[] = []): string[] => collect(pathValue(value), previous);

/** Commander's parser for a label: one printable line. */
export function labelValue(value: string): string {
  if (hasControl(value))
    throw new InvalidArgumentError('a label is one line of text: no newline, tab or other control character');
  return value;
}

/** --max-freeze: a finite duration up to ten minutes (issue 18). */
export const maxFreezeOption = (value: string): number => parseMaxFreeze(value);
