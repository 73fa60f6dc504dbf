// `qrv policy add|set|show|list|remove`: the rules sub-clients and volumes follow (F5).
import { plainCopy } from '../catalog/tracked.ts';
import path from 'node:path';
import type { CatalogData, HookMap, Policy } from '../catalog/schema.ts';
import { parseDuration, TIMER_LIMIT } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { HOOK_PHASES, type HookPhase } from '../policy/hooks.ts';
import type { Summary } from '../output/printer.ts';
import { details, table } from '../output/rows.ts';
import { parseRate } from '../core/rate.ts';
import { parseCopyTiming } from '../policy/copy-timing.ts';
import { findPolicy } from '../policy/resolve.ts';
import { parseCheckpoint, parseMaxFreeze } from '../policy/rules.ts';
import { parseSchedule } from '../policy/schedule.ts';
import { parseGrid } from '../prune/grid.ts';
import { findStore } from './stores.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NONE = /^(none|never)$/i;

/** Policy options as the CLI gives them: absent means "leave as it is" (set) or the default (add). */
export interface PolicyChanges {
  persist?: string;
  copy?: string;
  unsnap?: string;
  dest?: string;
  keep?: string;
  schedule?: string;
  hooks?: string[];
  hookTimeout?: string;
  /** --incremental / --no-incremental */
  incremental?: boolean;
  /** --max-freeze DURATION, or "none" for the default */
  maxFreeze?: string;
  /** --allow-inconsistent / --no-allow-inconsistent */
  allowInconsistent?: boolean;
  /** --checkpoint fast|spread, or "none" for the default (fast) */
  checkpoint?: string;
  /** --throttle RATE, or "none" for no limit */
  throttle?: string;
  /** --archive-to STORE, --archive-every DURATION, --archive-keep GRID; "none" clears each */
  archiveTo?: string;
  archiveEvery?: string;
  archiveKeep?: string;
}

/** --archive-to, --archive-every and --archive-keep (issue 14): checked, then kept as written. */
function archiveChanges(data: CatalogData, policy: Policy, changes: PolicyChanges): void {
  if (changes.archiveTo !== undefined) {
    if (!NONE.test(changes.archiveTo)) findStore(data, changes.archiveTo);
    policy.archiveTo = NONE.test(changes.archiveTo) ? null : changes.archiveTo;
  }
  if (changes.archiveEvery !== undefined) {
    if (!NONE.test(changes.archiveEvery) && parseDuration(changes.archiveEvery, '--archive-every') === null)
      throw new QrvError('usage', 'bad-duration', '--archive-every must be a finite duration', 'e.g. 1d, 12h');
    policy.archiveEvery = NONE.test(changes.archiveEvery) ? null : changes.archiveEvery;
  }
  if (changes.archiveKeep !== undefined) {
    if (!NONE.test(changes.archiveKeep)) parseGrid(changes.archiveKeep);
    policy.archiveKeep = NONE.test(changes.archiveKeep) ? null : changes.archiveKeep;
  }
}

function hookChanges(values: string[], current: HookMap): HookMap {
  const hooks: HookMap = { ...current };
  for (const value of values) {
    const at = value.indexOf('=');
    const phase = value.slice(0, at);
    if (at < 1 || !(HOOK_PHASES as readonly string[]).includes(phase)) {
      throw new QrvError(
        'usage',
        'bad-hook',
        `--hook "${value}" is not PHASE=COMMAND`,
        `PHASE is one of ${HOOK_PHASES.join(', ')}; PHASE= with no command removes that hook`,
      );
    }
    const command = value.slice(at + 1);
    if (command.trim() === '') delete hooks[phase as HookPhase];
    else hooks[phase as HookPhase] = command;
  }
  return hooks;
}

/** Checks every given value and applies it to `policy`; a bad value is refused with the reason. */
function apply(data: CatalogData, policy: Policy, changes: PolicyChanges): void {
  snapshotChanges(data, policy, changes);
  runChanges(policy, changes);
  archiveChanges(data, policy, changes);
  if (changes.hooks) policy.hooks = hookChanges(changes.hooks, policy.hooks);
  if (changes.hookTimeout !== undefined) policy.hookTimeout = checkHookTimeout(changes.hookTimeout);
  checkUnsnapNever(policy);
}

/** What becomes of a snapshot: --persist, --copy, --unsnap, --dest, --keep and --schedule. */
function snapshotChanges(data: CatalogData, policy: Policy, changes: PolicyChanges): void {
  if (changes.persist !== undefined) {
    parseDuration(changes.persist, '--persist');
    policy.persist = NONE.test(changes.persist) || /^forever$/i.test(changes.persist) ? null : changes.persist;
  }
  if (changes.copy !== undefined) {
    parseCopyTiming(changes.copy);
    policy.copy = changes.copy;
  }
  if (changes.unsnap !== undefined) policy.unsnap = checkUnsnap(changes.unsnap);
  if (changes.dest !== undefined) policy.dest = NONE.test(changes.dest) ? null : checkDest(data, changes.dest);
  if (changes.keep !== undefined) policy.keep = NONE.test(changes.keep) ? null : checkKeep(changes.keep);
  if (changes.schedule !== undefined) {
    if (NONE.test(changes.schedule)) policy.schedule = null;
    else {
      parseSchedule(changes.schedule);
      policy.schedule = changes.schedule;
    }
  }
}

/** How a run goes: --incremental, --max-freeze, --allow-inconsistent, --throttle and --checkpoint. */
function runChanges(policy: Policy, changes: PolicyChanges): void {
  if (changes.incremental !== undefined) policy.incremental = changes.incremental;
  if (changes.maxFreeze !== undefined) {
    if (NONE.test(changes.maxFreeze)) delete policy.maxFreeze;
    else {
      parseMaxFreeze(changes.maxFreeze);
      policy.maxFreeze = changes.maxFreeze;
    }
  }
  if (changes.allowInconsistent !== undefined) policy.allowInconsistent = changes.allowInconsistent;
  if (changes.throttle !== undefined) {
    if (NONE.test(changes.throttle)) delete policy.throttle;
    else {
      parseRate(changes.throttle);
      policy.throttle = changes.throttle;
    }
  }
  if (changes.checkpoint !== undefined) {
    if (NONE.test(changes.checkpoint)) delete policy.checkpoint;
    else policy.checkpoint = parseCheckpoint(changes.checkpoint);
  }
}

function checkUnsnap(unsnap: string): Policy['unsnap'] {
  if (unsnap !== 'after-copy' && unsnap !== 'after-persist') {
    throw new QrvError('usage', 'bad-unsnap', `--unsnap "${unsnap}" is not a rule`, 'use after-copy or after-persist');
  }
  return unsnap;
}

/** --dest pool:NAME of a known pool, or a path, kept absolute: cron runs from another working folder. */
function checkDest(data: CatalogData, dest: string): string {
  if (dest.startsWith('pool:') && !data.pools.some((p) => p.name === dest.slice(5))) {
    throw new QrvError(
      'notFound',
      'unknown-pool',
      `no pool named "${dest.slice(5)}"`,
      'add it with `qrv pool add NAME` first',
    );
  }
  return dest.startsWith('pool:') ? dest : path.resolve(dest);
}

function checkKeep(keep: string): number {
  if (/^\d+$/.test(keep) && Number(keep) >= 1) return Number(keep);
  throw new QrvError(
    'usage',
    'bad-keep',
    `--keep "${keep}" is not a whole number ≥ 1`,
    'give how many snapshots of each volume to keep, or "none"',
  );
}

function checkHookTimeout(hookTimeout: string): string {
  if (parseDuration(hookTimeout, '--hook-timeout', TIMER_LIMIT) === null)
    throw new QrvError('usage', 'bad-hook-timeout', '--hook-timeout must be a finite duration', 'e.g. 30s, 5m');
  return hookTimeout;
}

/** The rules together: after-persist needs a --persist. */
function checkUnsnapNever(policy: Policy): void {
  if (policy.unsnap === 'after-persist' && policy.persist === null) {
    throw new QrvError(
      'usage',
      'unsnap-never',
      '--unsnap after-persist with no --persist would keep snapshots for ever',
      'give --persist, or use --unsnap after-copy',
    );
  }
}

/** A policy's row with every rule at its default: copy now, unsnap after-copy, persist forever. */
export function newPolicyRow(name: string, at: string): Policy {
  return {
    name,
    persist: null,
    copy: 'now',
    unsnap: 'after-copy',
    dest: null,
    keep: null,
    schedule: null,
    incremental: false,
    hooks: {},
    hookTimeout: null,
    createdAt: at,
    updatedAt: at,
  };
}

export async function addPolicy(ctx: Context, name: string, changes: PolicyChanges): Promise<Summary> {
  if (!NAME.test(name))
    throw new QrvError(
      'usage',
      'bad-policy-name',
      `policy name "${name}" is not allowed`,
      'use letters, digits, ".", "_" and "-"',
    );
  const policy = await ctx.catalog.update((data) => {
    if (data.policies.some((p) => p.name === name))
      throw new QrvError(
        'refused',
        'policy-exists',
        `a policy named "${name}" exists already`,
        `change it with \`qrv policy set ${name}\``,
      );
    const row = newPolicyRow(name, ctx.now().toISOString());
    apply(data, row, changes);
    data.policies.push(row);
    return row;
  });
  return { data: { policy }, lines: [`added policy ${name}`, ...details(policy)] };
}

export async function setPolicy(ctx: Context, name: string, changes: PolicyChanges): Promise<Summary> {
  if (Object.values(changes).every((v) => v === undefined))
    throw new QrvError(
      'usage',
      'nothing-to-set',
      'nothing to change',
      'give at least one option; see qrv policy set --help',
    );
  const policy = await ctx.catalog.update((data) => {
    const row = findPolicy(data, name);
    apply(data, row, changes);
    row.updatedAt = ctx.now().toISOString();
    return plainCopy(row);
  });
  return { data: { policy }, lines: details(policy) };
}

export async function showPolicy(ctx: Context, name: string): Promise<Summary> {
  const data = await ctx.catalog.read();
  const policy = findPolicy(data, name);
  const users = [
    ...data.subclients.filter((s) => s.policy === name).map((s) => `sub-client ${s.name}`),
    ...data.volumes.filter((v) => v.policy === name).map((v) => `volume ${v.name}`),
  ];
  return {
    data: { policy, usedBy: users },
    lines: [...details(policy), `used by: ${users.length ? users.join(', ') : 'nothing'}`],
  };
}

export async function listPolicies(ctx: Context): Promise<Summary> {
  const { policies } = await ctx.catalog.read();
  const rows = policies.map((p) => [
    p.name,
    p.persist ?? 'forever',
    p.copy,
    p.unsnap,
    p.dest ?? '-',
    p.keep === null ? '-' : String(p.keep),
    p.schedule ?? '-',
    p.incremental ? 'incremental' : 'full',
    p.archiveTo
      ? `${p.archiveTo}${p.archiveEvery ? ` every ${p.archiveEvery}` : ''}${p.archiveKeep ? `, keep ${p.archiveKeep}` : ''}`
      : '-',
  ]);
  return {
    data: { policies },
    lines: policies.length
      ? table(['POLICY', 'PERSIST', 'COPY', 'UNSNAP', 'DEST', 'KEEP', 'SCHEDULE', 'UPDATES', 'ARCHIVE'], rows)
      : ['no policies yet (add one with `qrv policy add`)'],
  };
}

export async function removePolicy(ctx: Context, name: string): Promise<Summary> {
  await ctx.catalog.update((data) => {
    findPolicy(data, name);
    const users = [
      ...data.subclients.filter((s) => s.policy === name).map((s) => `sub-client ${s.name}`),
      ...data.volumes.filter((v) => v.policy === name).map((v) => `volume ${v.name}`),
    ];
    if (users.length)
      throw new QrvError(
        'refused',
        'policy-in-use',
        `policy "${name}" is used by ${users.join(', ')}`,
        'give them another policy first',
      );
    data.policies = data.policies.filter((p) => p.name !== name);
  });
  return { data: { policy: name }, lines: [`removed policy ${name}`] };
}
