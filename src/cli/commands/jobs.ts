// qrv snap | copy | unsnap | run: the phases, alone or together.
import type { Command } from 'commander';
import type { Context } from '../../engine/context.ts';
import { QrvError } from '../../core/errors.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { parseCheckpoint } from '../../policy/rules.ts';
import type { Checkpoint } from '../../writers/writer.ts';
import {
  collect,
  hookOptions,
  labelValue,
  maxFreezeOption,
  pathValue,
  persistOption,
  throttleOption,
} from '../parse.ts';

const copy = lazy(async () => (await import('../../services/copy.ts')).copy);
const resumeCopy = lazy(async () => (await import('../../services/copy.ts')).resumeCopy);
const run = lazy(async () => (await import('../../services/run.ts')).run);
const snap = lazy(async () => (await import('../../services/snap.ts')).snap);
const unsnap = lazy(async () => (await import('../../services/unsnap.ts')).unsnap);

interface HookFlags {
  hook?: string[];
  hookTimeout?: string;
}

interface BoundFlags {
  maxFreeze?: string;
  allowInconsistent?: boolean;
  checkpoint?: string;
}

/** --max-freeze and --allow-inconsistent, for the commands that take snapshots (issue 18). */
function withBounds(command: Command): Command {
  return command
    .option(
      '--max-freeze <duration>',
      "the longest a filesystem may stay frozen for a snapshot; a copy estimated longer is refused (default: 5s; for run, the policy's)",
    )
    .option(
      '--allow-inconsistent',
      'keep a copy of an image that was written to while it was copied, recorded as consistency crash-torn, instead of refusing it',
    )
    .option(
      '--checkpoint <mode>',
      "how application writers checkpoint before the snapshot: fast (write dirty buffers now; the default) or spread (paced like the server's own: gentler, longer); for run, the policy's",
    );
}

function bounds(options: BoundFlags): { maxFreezeMs?: number; allowInconsistent?: boolean; checkpoint?: Checkpoint } {
  return {
    ...(options.maxFreeze !== undefined ? { maxFreezeMs: maxFreezeOption(options.maxFreeze) } : {}),
    ...(options.allowInconsistent ? { allowInconsistent: true } : {}),
    ...(options.checkpoint !== undefined ? { checkpoint: parseCheckpoint(options.checkpoint) } : {}),
  };
}

const THROTTLE_HELP =
  'the most the copy and its read-back may read a second, e.g. 40M (K, M, G: binary units), so that the disks keep bandwidth for their users';

function withHooks(command: Command): Command {
  return command
    .option(
      '--hook <phase=command>',
      'run a command at pre-snapshot, post-snapshot, pre-copy or post-copy (repeatable)',
      collect,
    )
    .option(
      '--hook-timeout <duration>',
      "kill a hook that runs longer than this (default: 300s; for run, the policy's first)",
    );
}

interface SnapOptions extends HookFlags, BoundFlags {
  persist?: string;
  label?: string;
  object?: string[];
}

function registerSnap(program: Command): void {
  withBounds(
    withHooks(
      program
        .command('snap [volume...]')
        .description('take a snapshot of a volume; of several, one consistency group (one group id, one freeze window)')
        .option('--persist <duration>', 'how long the snapshot is kept, e.g. 12h, 7d, forever')
        .option('--label <text>', 'a label for the snapshot', labelValue)
        .option(
          '--object <id>',
          'an application object (postgresql:CLUSTER/DB, sqlite:/path): its volumes join the group, its writer held at rest (repeatable)',
          collect,
        ),
    ),
  ).action((volumes: string[], options: SnapOptions, command: Command) =>
    execute(command, (ctx) =>
      snap(ctx, {
        volumes,
        ...(options.object ? { objects: options.object } : {}),
        persistMs: persistOption(options.persist),
        label: options.label ?? null,
        ...hookOptions(options, ['pre-snapshot', 'post-snapshot']),
        ...bounds(options),
      }),
    ),
  );
}

interface CopyOptions extends HookFlags {
  to?: string;
  force?: boolean;
  full?: boolean;
  resume?: string;
  throttle?: string;
}

/** `qrv copy ID --to DEST`, or `qrv copy --resume JOB`: the job says the rest. */
function copyCommand(ctx: Context, snapshotId: string | undefined, options: CopyOptions) {
  const hooks = hookOptions(options, ['pre-copy', 'post-copy']);
  const throttle = throttleOption(options);
  if (options.resume !== undefined) {
    if (snapshotId !== undefined || options.to !== undefined || options.full || options.force) {
      throw new QrvError(
        'usage',
        'usage',
        '--resume takes no snapshot, --to, --full or --force: the job says what to copy where',
        'give only `qrv copy --resume JOB-ID`',
      );
    }
    // A timeout not given here is the killed copy's own (hookOptions fills in the default).
    return resumeCopy(ctx, {
      jobId: options.resume,
      hooks: hooks.hooks,
      ...(options.hookTimeout !== undefined ? { hookTimeoutMs: hooks.hookTimeoutMs } : {}),
      ...throttle,
    });
  }
  if (snapshotId === undefined || options.to === undefined)
    throw new QrvError(
      'usage',
      'usage',
      'qrv copy needs a snapshot id and --to <destination>',
      'e.g. `qrv copy s-1a2b3c4d5e6f --to /replicas/`, or `qrv copy --resume JOB-ID`',
    );
  return copy(ctx, {
    snapshotId,
    to: options.to,
    force: Boolean(options.force),
    full: Boolean(options.full),
    ...hooks,
    ...throttle,
  });
}

function registerCopy(program: Command): void {
  withHooks(
    program
      .command('copy [snapshot-id]')
      .description(
        'copy a snapshot to a QRV: a new one, or the QRV kept at the destination, updated with the changed blocks',
      )
      .option(
        '--to <destination>',
        'image file, folder, block device or pool:NAME (required, except with --resume)',
        pathValue,
      )
      .option('--force', 'overwrite a destination that is not a QRV of this volume')
      .option('--full', 'rewrite an existing QRV in full instead of updating its changed blocks')
      .option('--resume <job-id>', 'finish the copy of a job that was killed or failed, from its last checkpoint')
      .option('--throttle <rate>', THROTTLE_HELP),
  ).action((snapshotId: string | undefined, options: CopyOptions, command: Command) =>
    execute(command, (ctx) => copyCommand(ctx, snapshotId, options)),
  );
}

function registerUnsnap(program: Command): void {
  program
    .command('unsnap <snapshot-id>')
    .description('remove a snapshot')
    .option('--force', 'remove it even when it is pinned')
    .action((snapshotId: string, options: { force?: boolean }, command: Command) =>
      execute(command, (ctx) => unsnap(ctx, { snapshotId, force: Boolean(options.force) })),
    );
}

interface RunOptions extends HookFlags, BoundFlags {
  to?: string;
  persist?: string;
  label?: string;
  keepSnapshot?: boolean;
  force?: boolean;
  throttle?: string;
}

function registerRun(program: Command): void {
  withBounds(
    withHooks(
      program
        .command('run <target>')
        .description(
          'all phases for a volume or a sub-client, following its policy: snapshot, copy to a QRV, verify, remove the snapshot',
        )
        .option(
          '--to <destination>',
          "image file, folder, block device or pool:NAME; copies now (default: the policy's --dest and --copy)",
          pathValue,
        )
        .option('--persist <duration>', "how long a kept snapshot persists (default: the policy's)")
        .option('--label <text>', 'a label for the snapshots', labelValue)
        .option('--keep-snapshot', 'keep the snapshot after the copy')
        .option('--force', 'overwrite a destination that is not a QRV of this volume')
        .option('--throttle <rate>', `${THROTTLE_HELP} (default: the policy's)`),
    ),
  ).action((target: string, options: RunOptions, command: Command) =>
    execute(command, (ctx) => {
      const { hooks, hookTimeoutMs } = hookOptions(options);
      return run(ctx, {
        target,
        ...(options.to !== undefined ? { to: options.to } : {}),
        ...(options.persist !== undefined ? { persistMs: persistOption(options.persist) } : {}),
        label: options.label ?? null,
        keepSnapshot: Boolean(options.keepSnapshot),
        force: Boolean(options.force),
        hooks,
        ...(options.hookTimeout !== undefined ? { hookTimeoutMs } : {}),
        ...bounds(options),
        ...throttleOption(options),
      });
    }),
  );
}

export function register(program: Command): void {
  registerSnap(program);
  registerCopy(program);
  registerUnsnap(program);
  registerRun(program);
}
