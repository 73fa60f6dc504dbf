// qrv policy add|set|show|list|remove
import type { Command } from 'commander';
import type { PolicyChanges } from '../../services/policies.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { collect, pathValue } from '../parse.ts';

const addPolicy = lazy(async () => (await import('../../services/policies.ts')).addPolicy);
const listPolicies = lazy(async () => (await import('../../services/policies.ts')).listPolicies);
const removePolicy = lazy(async () => (await import('../../services/policies.ts')).removePolicy);
const setPolicy = lazy(async () => (await import('../../services/policies.ts')).setPolicy);
const showPolicy = lazy(async () => (await import('../../services/policies.ts')).showPolicy);

function policyOptions(command: Command): Command {
  return command
    .option('--persist <duration>', 'how long snapshots persist (7d, 12h, forever)')
    .option('--copy <when>', 'when the copy runs: now, never, after:<duration>, at:<HH:MM>, oldest:<N>')
    .option(
      '--unsnap <rule>',
      'after-copy (remove the snapshot once copied) or after-persist (keep it until its persistence lapses)',
    )
    .option('--dest <dest>', 'where QRVs go: a path (file, folder, device) or pool:<name>; "none" clears it', pathValue)
    .option('--keep <N>', 'keep at most the newest N snapshots of each volume; "none" clears it')
    .option('--schedule <cron>', 'when `qrv cron` takes snapshots, e.g. "0 */6 * * *"; "none" clears it')
    .option(
      '--hook <phase=command>',
      'a hook for pre-snapshot, post-snapshot, pre-copy or post-copy (repeatable; PHASE= removes it)',
      collect,
    )
    .option('--hook-timeout <duration>', 'kill a hook that runs longer than this (default 300s)')
    .option('--incremental', 'update an existing QRV with the changed blocks only (provider ranges or the hash ledger)')
    .option('--no-incremental', 'rewrite the QRV in full on every copy (the default)')
    .option(
      '--max-freeze <duration>',
      'the longest a filesystem may stay frozen for a snapshot (default 5s); "none" clears it',
    )
    .option('--allow-inconsistent', 'keep copies of images written to while copied, as consistency crash-torn')
    .option('--no-allow-inconsistent', 'refuse such copies (the default)')
    .option(
      '--checkpoint <mode>',
      'how application writers checkpoint before the snapshot: fast (the default) or spread (paced like the server\'s own); "none" clears it',
    )
    .option(
      '--throttle <rate>',
      'the most a copy and its read-back may read a second, e.g. 40M (K, M, G: binary units); "none" clears it',
    )
    .option('--archive-to <store>', '`qrv cron` sends archive generations to this store; "none" clears it')
    .option(
      '--archive-every <duration>',
      'at most one generation per this time (e.g. 1d); "none": each newer point in time',
    )
    .option('--archive-keep <grid>', 'generations kept by `qrv prune`, e.g. 24h,7d,4w,12m; "none": all');
}

function changes(options: Record<string, unknown>): PolicyChanges {
  const out: PolicyChanges = {};
  const keys = [
    'persist',
    'copy',
    'unsnap',
    'dest',
    'keep',
    'schedule',
    'hookTimeout',
    'maxFreeze',
    'checkpoint',
    'throttle',
  ] as const;
  for (const key of [...keys, 'archiveTo', 'archiveEvery', 'archiveKeep'] as const) {
    if (typeof options[key] === 'string') out[key] = options[key] as string;
  }
  if (typeof options.incremental === 'boolean') out.incremental = options.incremental;
  if (typeof options.allowInconsistent === 'boolean') out.allowInconsistent = options.allowInconsistent;
  if (Array.isArray(options.hook)) out.hooks = options.hook as string[];
  return out;
}

export function register(program: Command): void {
  const policy = program.command('policy').description('add, change, show, list and remove policies');
  policyOptions(
    policy.command('add <name>').description('add a policy (defaults: copy now, unsnap after-copy, persist forever)'),
  ).action((name: string, options: Record<string, unknown>, command: Command) =>
    execute(command, (ctx) => addPolicy(ctx, name, changes(options))),
  );
  policyOptions(policy.command('set <name>').description('change a policy; options not given stay as they are')).action(
    (name: string, options: Record<string, unknown>, command: Command) =>
      execute(command, (ctx) => setPolicy(ctx, name, changes(options))),
  );
  policy
    .command('show <name>')
    .description('show a policy and what uses it')
    .action((name: string, _o: unknown, command: Command) => execute(command, (ctx) => showPolicy(ctx, name)));
  policy
    .command('list')
    .description('list policies')
    .action((_o: unknown, command: Command) => execute(command, (ctx) => listPolicies(ctx)));
  policy
    .command('remove <name>')
    .description('remove a policy that nothing uses')
    .action((name: string, _o: unknown, command: Command) => execute(command, (ctx) => removePolicy(ctx, name)));
}
