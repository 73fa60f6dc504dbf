// The rules one job follows: the volume's policy, with what the command line says on top.
import type { Policy } from '../catalog/schema.ts';
import { parseDuration } from '../core/duration.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, type Hooks } from '../engine/hooks.ts';
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
}

export interface Overrides {
  to?: string;
  persistMs?: number | null;
  keepSnapshot?: boolean;
  hooks?: Hooks;
  hookTimeoutMs?: number;
}

export function rulesFor(policy: Policy | null, overrides: Overrides = {}): Rules {
  const policyTimeout = policy?.hookTimeout ? parseDuration(policy.hookTimeout) : null;
  return {
    policy: policy?.name ?? null,
    persistMs: overrides.persistMs !== undefined ? overrides.persistMs : policy?.persist ? parseDuration(policy.persist) : null,
    dest: overrides.to ?? policy?.dest ?? null,
    // An explicit --to means "copy now"; otherwise the policy says when.
    timing: overrides.to !== undefined || !policy ? { mode: 'now' } : parseCopyTiming(policy.copy),
    removeAfterCopy: !overrides.keepSnapshot && (policy ? policy.unsnap === 'after-copy' : true),
    incremental: policy?.incremental ?? false,
    hooks: { ...(policy?.hooks ?? {}), ...(overrides.hooks ?? {}) },
    hookTimeoutMs: overrides.hookTimeoutMs ?? policyTimeout ?? DEFAULT_HOOK_TIMEOUT_MS,
  };
}
