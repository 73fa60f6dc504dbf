// The rules one job follows: the volume's policy, with what the command line says on top.
import { CHECKPOINTS, type Checkpoint } from '../catalog/checkpoints.ts';
import type { Policy } from '../catalog/schema.ts';
import { parseDuration, TIMER_LIMIT } from '../core/duration.ts';
import { isQrvError, QrvError } from '../core/errors.ts';
import { parseRate } from '../core/rate.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, type Hooks } from './hooks.ts';
import { guardDeadlineMs } from '../system/freeze-deadline.ts';
import { parseCopyTiming, type CopyTiming } from './copy-timing.ts';

export interface Rules {
  policy: string | null;
  persistMs: number | null;
  /** a path or "pool:NAME"; null when there is nowhere to copy to */
  dest: string | null;
  timing: CopyTiming;
  /** remove the snapshot once it is copied (policy unsnap after-copy, and no --keep-snapshot) */
  removeAfterCopy: boolean;
  /** update an existing QRV with changed blocks only (policy --incremental) */
  incremental: boolean;
  hooks: Hooks;
  hookTimeoutMs: number;
  /** the longest a filesystem may stay frozen for a snapshot (--max-freeze) */
  maxFreezeMs: number;
  /** keep a copy of an image written to while it was copied, as crash-torn (--allow-inconsistent) */
  allowInconsistent: boolean;
  /** how application writers checkpoint before the snapshot (--checkpoint) */
  checkpoint: Checkpoint;
  /** bytes a second a copy and its read-back may read at most (--throttle); null: no limit */
  throttle: number | null;
}

export interface Overrides {
  to?: string;
  persistMs?: number | null;
  keepSnapshot?: boolean;
  hooks?: Hooks;
  hookTimeoutMs?: number;
  maxFreezeMs?: number;
  allowInconsistent?: boolean;
  checkpoint?: Checkpoint;
  /** bytes a second */
  throttle?: number;
}

/**
 * A value a policy row holds, parsed as the command line would. A catalog written before the
 * limits existed may hold one that is now refused (--persist 1000000000d): that is one clear
 * error naming the policy and the command that fixes it, raised before the job changes
 * anything, never an internal error halfway through a run (and cron goes on with the others).
 */
function fromPolicy<T>(policy: Policy, option: string, value: string, parse: (value: string) => T): T {
  try {
    return parse(value);
  } catch (error) {
    if (!isQrvError(error)) throw error;
    throw new QrvError(
      'catalog',
      'policy-bad-value',
      `policy "${policy.name}" holds ${option} "${value}", which qrv refuses: ${error.message}`,
      `change it with \`qrv policy set ${policy.name} ${option} <value>\`${error.hint ? `; ${error.hint}` : ''}`,
    );
  }
}

export function rulesFor(policy: Policy | null, overrides: Overrides = {}): Rules {
  const policyTimeout =
    overrides.hookTimeoutMs === undefined && policy?.hookTimeout
      ? fromPolicy(policy, '--hook-timeout', policy.hookTimeout, (v) => parseDuration(v, '--hook-timeout', TIMER_LIMIT))
      : null;
  const policyPersist =
    overrides.persistMs === undefined && policy?.persist
      ? fromPolicy(policy, '--persist', policy.persist, (v) => parseDuration(v, '--persist'))
      : null;
  return {
    policy: policy?.name ?? null,
    persistMs: overrides.persistMs !== undefined ? overrides.persistMs : policyPersist,
    dest: overrides.to ?? policy?.dest ?? null,
    // An explicit --to means "copy now"; otherwise the policy says when.
    timing:
      overrides.to !== undefined || !policy
        ? { mode: 'now' }
        : fromPolicy(policy, '--copy', policy.copy, parseCopyTiming),
    removeAfterCopy: !overrides.keepSnapshot && (policy ? policy.unsnap === 'after-copy' : true),
    incremental: policy?.incremental ?? false,
    hooks: { ...(policy?.hooks ?? {}), ...(overrides.hooks ?? {}) },
    hookTimeoutMs: overrides.hookTimeoutMs ?? policyTimeout ?? DEFAULT_HOOK_TIMEOUT_MS,
    maxFreezeMs: overrides.maxFreezeMs ?? (policy?.maxFreeze ? parseMaxFreeze(policy.maxFreeze) : guardDeadlineMs()),
    allowInconsistent: overrides.allowInconsistent ?? policy?.allowInconsistent ?? false,
    checkpoint: overrides.checkpoint ?? policy?.checkpoint ?? 'fast',
    throttle:
      overrides.throttle ??
      (policy?.throttle ? fromPolicy(policy, '--throttle', policy.throttle, (v) => parseRate(v)) : null),
  };
}

/** A --checkpoint value: fast or spread. */
export function parseCheckpoint(value: string): Checkpoint {
  const found = CHECKPOINTS.find((c) => c === value);
  if (!found)
    throw new QrvError(
      'usage',
      'bad-checkpoint',
      `--checkpoint "${value}" is neither fast nor spread`,
      "fast: write dirty buffers out now (a short window, a burst of writes); spread: paced like the server's own checkpoints (gentle, takes longer)",
    );
  return found;
}

/** The longest a freeze may be: the guard's timer must be able to hold it, and nobody stalls writers longer. */
export const MAX_FREEZE_CEILING_MS = 10 * 60_000;

/** A --max-freeze value: a finite duration of at most ten minutes. */
export function parseMaxFreeze(value: string, what = '--max-freeze'): number {
  const ms = parseDuration(value, what);
  if (ms === null || ms > MAX_FREEZE_CEILING_MS)
    throw new QrvError(
      'usage',
      'bad-max-freeze',
      `${what} "${value}" must be a duration of at most 10m`,
      'every writer of a frozen filesystem stalls that long; e.g. 5s, 30s, 2m',
    );
  return ms;
}
