// qrv store add|list|show|remove, qrv archive (F15)
import type { Command } from 'commander';
import { QrvError } from '../../core/errors.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { pathValue } from '../parse.ts';

const addStore = lazy(async () => (await import('../../services/stores.ts')).addStore);
const listStores = lazy(async () => (await import('../../services/stores.ts')).listStores);
const showStore = lazy(async () => (await import('../../services/stores.ts')).showStore);
const removeStore = lazy(async () => (await import('../../services/stores.ts')).removeStore);
const scanStore = lazy(async () => (await import('../../services/stores.ts')).scanStore);
const unlockStore = lazy(async () => (await import('../../services/stores.ts')).unlockStore);
const archive = lazy(async () => (await import('../../services/archive.ts')).archive);

interface AddOptions {
  dir?: string;
  ssh?: string;
  s3?: string;
  port?: string;
  sshOption?: string[];
  endpoint?: string;
  region?: string;
  packSize?: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new QrvError('usage', 'bad-store', `--port needs a port number (1-65535), not ${value}`);
  return n;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function registerStore(program: Command): void {
  const store = program.command('store').description('archive stores: where archive generations go (F15)');
  registerStoreAdd(store);
  registerStoreOthers(store);
}

function registerStoreAdd(store: Command): void {
  store
    .command('add <name>')
    .description('add an archive store (made a qrv store if it is empty; checked now: reachable, private)')
    .option('--dir <path>', 'a folder, e.g. on another disk or an NFS mount (absolute)', pathValue)
    .option(
      '--ssh <location>',
      '[user@]host:/path on an SSH server, through the system ssh (its config, keys, known_hosts)',
    )
    .option('--port <n>', 'the SSH port, when not the one ssh would use')
    .option(
      '--ssh-option <Key=Value>',
      'an ssh -o option, e.g. IdentityFile=/root/.ssh/archive (repeat for more)',
      collect,
    )
    .option(
      '--s3 <location>',
      's3://bucket[/prefix] in an S3-compatible object store (credentials from the environment)',
    )
    .option('--endpoint <url>', 'the S3 server, e.g. https://s3.example.net (default: AWS)')
    .option('--region <region>', 'the S3 region (default: AWS_REGION, else us-east-1)')
    .option('--pack-size <size>', 'put blobs in packs of this size, 1M to 1G (default 16M; a new store only)')
    .action((name: string, options: AddOptions, command: Command) =>
      execute(command, (ctx) =>
        addStore(ctx, {
          name,
          dir: options.dir,
          ssh: options.ssh,
          s3: options.s3,
          port: options.port === undefined ? undefined : port(options.port),
          sshOptions: options.sshOption,
          endpoint: options.endpoint,
          region: options.region,
          packSize: options.packSize,
        }),
      ),
    );
}

function registerStoreOthers(store: Command): void {
  store
    .command('list')
    .description('list the archive stores')
    .action((_options: unknown, command: Command) => execute(command, (ctx) => listStores(ctx)));
  store
    .command('show <name>')
    .description('show an archive store and the generations qrv keeps in it')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => showStore(ctx, name)));
  store
    .command('scan <name>')
    .description('list the generations a store holds, from their manifests; --import adds those the catalog lacks')
    .option('--import', 'add the generations the catalog does not know (a host that lost its catalog)')
    .option('--key <keyfile>', 'the key file sealed generations were sent with', pathValue)
    .action((name: string, options: { import?: boolean; key?: string }, command: Command) =>
      execute(command, (ctx) => scanStore(ctx, { name, import: Boolean(options.import), key: options.key })),
    );
  store
    .command('unlock <name> [lock]')
    .description("remove a store's stale locks (holders gone), or the lock LOCK whatever it is; list those left")
    .action((name: string, lock: string | undefined, _options: unknown, command: Command) =>
      execute(command, (ctx) => unlockStore(ctx, name, lock)),
    );
  store
    .command('remove <name>')
    .description('forget an archive store (refused while it holds generations); nothing in it is touched')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => removeStore(ctx, name)));
}

function registerArchive(program: Command): void {
  program
    .command('archive [id]')
    .description('send one archive generation of a snapshot or QRV to a store: only the chunks the store lacks')
    .option('--to <store>', 'the archive store (qrv store list)')
    .option(
      '--encrypt <keyfile>',
      'seal it (AES-256-GCM) with the key in this file (≥ 32 random bytes, mode 600)',
      pathValue,
    )
    .option('--resume <job-id>', 'finish an archive job that was killed or failed, without sending again what arrived')
    .action((id: string | undefined, options: { to?: string; encrypt?: string; resume?: string }, command: Command) =>
      execute(command, (ctx) => {
        if (
          options.resume !== undefined &&
          (id !== undefined || options.to !== undefined || options.encrypt !== undefined)
        )
          throw new QrvError(
            'usage',
            'usage',
            '--resume takes no id, --to or --encrypt: the job says what to send where',
            'give only `qrv archive --resume JOB-ID`',
          );
        return archive(ctx, { id, to: options.to, encrypt: options.encrypt, resume: options.resume });
      }),
    );
}

export function register(program: Command): void {
  registerStore(program);
  registerArchive(program);
}
