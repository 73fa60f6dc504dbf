// qrv list | show | set | recover | promote
import { Option, type Command } from 'commander';
import { QrvError } from '../../core/errors.ts';
import type { ListRequest } from '../../services/inspect.ts';
import { groupSources, type OrderedOption } from '../../services/arguments.ts';
import type { Via } from '../../browse/open.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { labelValue, pathValue } from '../parse.ts';
import { instantCommand, refuseInstantOptions, statusCommand, type InstantOptions } from './recover-instant.ts';

const list = lazy(async () => (await import('../../services/inspect.ts')).list);
const setProperties = lazy(async () => (await import('../../services/inspect.ts')).setProperties);
const show = lazy(async () => (await import('../../services/inspect.ts')).show);
const promote = lazy(async () => (await import('../../services/promote.ts')).promote);
const recover = lazy(async () => (await import('../../services/recover.ts')).recover);
const recoverGroup = lazy(async () => (await import('../../services/recover-group.ts')).recoverGroup);
const recoverFiles = lazy(async () => (await import('../../services/recover-files.ts')).recoverFiles);
const recoverObject = lazy(async () => (await import('../../services/recover-object.ts')).recoverObject);
const resumeRecovery = lazy(async () => (await import('../../services/recover-resume.ts')).resumeRecovery);

function refuseVia(options: { via?: string }): void {
  if (options.via !== undefined)
    throw new QrvError(
      'usage',
      'usage',
      '--via goes with --path (file-level recovery)',
      'a whole volume is copied block for block; nothing is mounted',
    );
}

function refuseObjectOptions(options: { into?: string }): void {
  if (options.into !== undefined)
    throw new QrvError(
      'usage',
      'usage',
      '--into goes with an application object (postgresql:CLUSTER/DB)',
      'e.g. `qrv recover postgresql:main/billing --as-of 09:00 --into billing_0900`',
    );
}

/** What a command's action is given to work with. */
type Ctx = Parameters<Parameters<typeof execute>[1]>[0];

interface PromoteOptions {
  force?: boolean;
  asOf?: string;
  migrateTo?: string;
  wait?: boolean;
  throttle?: string;
}

function promoteRequest(qrvId: string, options: PromoteOptions) {
  if (!options.migrateTo && (options.throttle !== undefined || options.wait === false))
    throw new QrvError(
      'usage',
      'usage',
      '--throttle and --no-wait go with --migrate-to',
      'e.g. `qrv promote q-1a2b3c4d5e6f --migrate-to /dev/vg/fast --force`',
    );
  return {
    qrvId,
    force: Boolean(options.force),
    ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
    ...(options.migrateTo !== undefined ? { migrateTo: options.migrateTo, wait: options.wait !== false } : {}),
    ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
  };
}

/** The options of `qrv recover`. */
interface RecoverOptions extends InstantOptions {
  from?: string;
  path?: string[];
  asOf?: string;
  group?: string;
  to?: string;
  force?: boolean;
  full?: boolean;
  resume?: string;
  via?: string;
  into?: string;
}

/** `qrv recover VOLUME --from ID --path P...`: files and folders out of a copy. */
function recoverPathsCommand(ctx: Ctx, volume: string | undefined, options: RecoverOptions, order: OrderedOption[]) {
  if (options.group !== undefined)
    throw new QrvError(
      'usage',
      'usage',
      '--group recovers whole volumes; --path takes files from one volume',
      'give `qrv recover VOLUME --from ID --path P`',
    );
  if (options.full)
    throw new QrvError(
      'usage',
      'usage',
      '--full goes with a whole volume: --path restores files',
      'give `qrv recover VOLUME --from ID --path P` without --full',
    );
  if (volume === undefined)
    throw new QrvError(
      'usage',
      'usage',
      'qrv recover --path needs the volume the files belong to',
      'e.g. `qrv recover web --from s-1a2b3c4d5e6f --path /etc/app.conf`',
    );
  return recoverFiles(ctx, {
    volume,
    sources: groupSources(order),
    ...(options.to !== undefined ? { to: options.to } : {}),
    force: Boolean(options.force),
    ...(options.via !== undefined ? { via: options.via as Via } : {}),
  });
}

/** `qrv recover --resume JOB`: the job says everything else. */
function resumeCommand(ctx: Ctx, volume: string | undefined, options: RecoverOptions) {
  const others = (['from', 'asOf', 'path', 'group', 'to', 'via', 'into', 'full'] as const).filter(
    (o) => options[o] !== undefined && options[o] !== false,
  );
  if (volume !== undefined || others.length)
    throw new QrvError(
      'usage',
      'usage',
      '--resume takes no volume and no other option: the killed job says what it was recovering',
      'give `qrv recover --resume JOB`',
    );
  return resumeRecovery(ctx, options.resume as string);
}

/** `qrv recover WRITER:OBJECT [--as-of T] --to PATH | --into DB`: the options that go with an object. */
function recoverObjectCommand(ctx: Ctx, object: string, options: RecoverOptions) {
  if (
    options.from !== undefined ||
    options.path !== undefined ||
    options.group !== undefined ||
    options.via !== undefined
  )
    throw new QrvError(
      'usage',
      'usage',
      `recovering ${object} takes --as-of, --to, --into and --force only`,
      'the copies that hold it are chosen by --as-of (default: the newest)',
    );
  return recoverObject(ctx, {
    object,
    ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
    ...(options.to !== undefined ? { to: options.to } : {}),
    ...(options.into !== undefined ? { into: options.into } : {}),
    force: Boolean(options.force),
  });
}

/** `qrv recover --group G`: every volume of the group over itself. */
function recoverGroupCommand(ctx: Ctx, volume: string | undefined, groupId: string, options: RecoverOptions) {
  if (volume !== undefined || options.from !== undefined || options.asOf !== undefined || options.to !== undefined)
    throw new QrvError(
      'usage',
      'usage',
      '--group takes no volume, --from, --as-of or --to: each volume goes back over itself',
      'give `qrv recover --group G --force`',
    );
  return recoverGroup(ctx, {
    groupId,
    force: Boolean(options.force),
    full: Boolean(options.full),
  });
}

/** `qrv recover VOLUME --from ID | --as-of T [--to PATH]`: a whole volume, block for block. */
function recoverVolumeCommand(ctx: Ctx, volume: string | undefined, options: RecoverOptions) {
  if (volume === undefined || (options.from === undefined) === (options.asOf === undefined))
    throw new QrvError(
      'usage',
      'usage',
      'qrv recover needs a volume and either --from <id> or --as-of <time> (or --group <id>)',
      'e.g. `qrv recover web --from s-1a2b3c4d5e6f --to /tmp/web.img`, or `qrv recover web --as-of "yesterday 18:00" --to /tmp/web.img`',
    );
  return recover(ctx, {
    volume,
    ...(options.from !== undefined ? { from: options.from } : { asOf: options.asOf as string }),
    ...(options.to ? { to: options.to } : {}),
    force: Boolean(options.force),
    full: Boolean(options.full),
  });
}

/** Which recovery the options ask for, each refusing the options that do not go with it. */
function recoverCommand(ctx: Ctx, volume: string | undefined, options: RecoverOptions, order: OrderedOption[]) {
  if (volume?.includes(':')) return recoverObjectCommand(ctx, volume, options);
  if (options.resume !== undefined) return resumeCommand(ctx, volume, options);
  if (options.status) return statusCommand(ctx, volume, options);
  if (options.instant) return instantCommand(ctx, volume, options);
  refuseInstantOptions(options);
  refuseObjectOptions(options);
  if (options.path !== undefined) return recoverPathsCommand(ctx, volume, options, order);
  refuseVia(options);
  if (options.group !== undefined) return recoverGroupCommand(ctx, volume, options.group, options);
  return recoverVolumeCommand(ctx, volume, options);
}

/** The options of `qrv list`: filters, and --all and --long. */
interface ListOptions {
  volume?: string;
  subclient?: string;
  state?: string;
  label?: string;
  object?: string;
  asOf?: string;
  all?: boolean;
  long?: boolean;
}

function registerList(program: Command): void {
  program
    .command('list')
    .description('list snapshots and QRVs')
    .option('--volume <name>', 'only this volume')
    .option('--subclient <name>', 'only the volumes of this sub-client')
    .option('--state <state>', 'only rows in this state (ready, removed, failed, copying, creating)')
    .option('--label <text>', 'only snapshots with this label')
    .option(
      '--object <id>',
      'only the snapshots and QRVs that hold this application object (postgresql:main/billing, sqlite:/srv/app/app.db)',
    )
    .option('--as-of <time>', 'what existed at this time (ISO time, "2h ago", "yesterday 18:00")')
    .option('--all', 'include removed snapshots and QRVs')
    .option(
      '--long',
      'more columns: how each snapshot got its point in time (consistency), what froze it, the freeze window, its group, the application objects each row holds',
    )
    .action((options: ListOptions, command: Command) => {
      const { all, long, ...filters } = options;
      const given = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)) as Omit<
        ListRequest,
        'all'
      >;
      return execute(command, (ctx) => list(ctx, { ...given, all: Boolean(all), long: Boolean(long) }));
    });
}

function registerShow(program: Command): void {
  program
    .command('show <id>')
    .description('show every recorded detail of a snapshot, QRV or job')
    .action((id: string, _options: unknown, command: Command) => execute(command, (ctx) => show(ctx, id)));
}

function registerSet(program: Command): void {
  program
    .command('set <snapshot-id>')
    .description("change a snapshot's persistence, label or pin")
    .option('--persist <when>', 'persist this long from now (30d, forever) or until a time (2026-12-31T00:00Z)')
    .option('--label <text>', 'set the label ("" clears it)', labelValue)
    .addOption(new Option('--pin', 'never prune it').conflicts('unpin'))
    .option('--unpin', 'let it be pruned again')
    .action(
      (
        snapshotId: string,
        options: { persist?: string; label?: string; pin?: boolean; unpin?: boolean },
        command: Command,
      ) =>
        execute(command, (ctx) =>
          setProperties(ctx, {
            snapshotId,
            ...(options.persist !== undefined ? { persist: options.persist } : {}),
            ...(options.label !== undefined ? { label: options.label } : {}),
            ...(options.pin ? { pin: true } : options.unpin ? { pin: false } : {}),
          }),
        ),
    );
}

/** Makes commander's parser of recover's --from, --as-of or --path, which also records each value in the order given. */
type Recorder = (option: OrderedOption['option']) => (value: string, previous: unknown) => unknown;

/** recover's options that say what to recover and where to: a copy, files of it, a group, a killed job. */
function withRecoverSources(command: Command, record: Recorder): Command {
  return command
    .option(
      '--from <id>',
      'the snapshot or QRV to recover from (or --as-of; repeat it with --path after each)',
      record('from'),
    )
    .option(
      '--path <path>',
      'restore this file or folder (from the --from before it) instead of the whole volume; repeatable',
      record('path'),
    )
    .option(
      '--as-of <time>',
      'instead of --from: the copy `qrv resolve VOLUME --as-of TIME` chooses (with --path, for the paths after it)',
      record('as-of'),
    )
    .option(
      '--group <group-id>',
      'recover every volume of this group over itself, each from its snapshot or a QRV reflecting it (needs --force)',
    )
    .option(
      '--to <path>',
      'write here instead of over the volume; with --path, a folder to restore into instead of the mounted volume',
      pathValue,
    )
    .option('--force', 'overwrite the volume (or an existing --to); with --path, replace existing files')
    .option(
      '--full',
      'write every block back, instead of only the blocks where the target differs from the copy (found with its ledger or the provider)',
    )
    .option(
      '--resume <job>',
      'finish a recovery that was killed while it wrote (`qrv doctor` lists them): only what still differs is written',
    );
}

/** recover's options that say how: instantly, how files are read, into which database. */
function withRecoverMethods(command: Command): Command {
  return command
    .option(
      '--instant',
      'usable at once: a dm or lvm volume reads the QRV within seconds while the kernel copies it back; a file volume becomes a reflink clone (XFS, btrfs)',
    )
    .option(
      '--no-wait',
      'with --instant: return once the volume reads the QRV; `qrv recover --status` finishes the copy',
    )
    .option(
      '--throttle <limit>',
      "with --instant: a rate for the kernel's copy, such as 40M (MiB/s; kept while qrv waits), or a share of time such as 25% (raid1_resync_throttle, for every mirror)",
    )
    .option('--status', "how far each instant recovery is (or VOLUME's); finishes those whose copy is done")
    .option('--via <method>', 'with --path: how to read the copy: auto, debugfs (ext2/3/4, no root) or mount (root)')
    .option(
      '--into <database>',
      'an application object (postgresql:CLUSTER/DB): restore it into its running cluster as this new database',
    );
}

function registerRecover(program: Command): void {
  // --from, --as-of and --path in the order given: each --path belongs to the --from before it.
  const order: OrderedOption[] = [];
  const record: Recorder = (option) => (value, previous) => {
    if (option === 'path') pathValue(value);
    order.push({ option, value });
    return option === 'path' ? [...((previous as string[] | undefined) ?? []), value] : value;
  };
  withRecoverMethods(
    withRecoverSources(
      program
        .command('recover [volume]')
        .description(
          'write a snapshot or QRV back over the volume, or to --to; with --path, only those files and folders; with --group, every volume of a consistency group',
        ),
      record,
    ),
  ).action((volume: string | undefined, options: RecoverOptions, command: Command) =>
    execute(command, (ctx) => recoverCommand(ctx, volume, options, order)),
  );
}

function registerPromote(program: Command): void {
  program
    .command('promote <qrv-id-or-volume>')
    .description(
      "make a QRV its volume's primary from now on: no data is copied; the old primary is kept and recorded as retired",
    )
    .option('--as-of <time>', 'the argument is a volume: promote its newest QRV holding its state at that time')
    .option(
      '--force',
      "promote although the old primary still exists (what was written to it after the QRV's snapshot stays only there)",
    )
    .option(
      '--migrate-to <device>',
      "instead of the QRV's own device or image, this device (an LV or a disk of the QRV's size) becomes the primary: usable at once, reading the QRV while the kernel copies it there (as recover --instant); the QRV stays a QRV",
    )
    .option(
      '--no-wait',
      'with --migrate-to: return once the volume reads the QRV; `qrv recover --status` finishes the copy',
    )
    .option('--throttle <limit>', 'with --migrate-to: as recover --instant --throttle (40M, 25%)')
    .action((qrvId: string, options: PromoteOptions, command: Command) =>
      execute(command, (ctx) => promote(ctx, promoteRequest(qrvId, options))),
    );
}

export function register(program: Command): void {
  registerList(program);
  registerShow(program);
  registerSet(program);
  registerRecover(program);
  registerPromote(program);
}
