// qrv volume add|set|list|activate|remove
import type { Command } from 'commander';
import { PROVIDER_NAMES } from '../../providers/names.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { pathValue } from '../parse.ts';

const activateVolumes = lazy(async () => (await import('../../services/activate.ts')).activateVolumes);
const addVolume = lazy(async () => (await import('../../services/volumes.ts')).addVolume);
const listVolumes = lazy(async () => (await import('../../services/volumes.ts')).listVolumes);
const removeVolume = lazy(async () => (await import('../../services/volumes.ts')).removeVolume);
const setVolumePolicy = lazy(async () => (await import('../../services/volumes.ts')).setVolumePolicy);

/** The options of `qrv volume add`. */
interface AddOptions {
  path?: string;
  device?: string;
  provider: string;
  snapshotDir?: string;
  cowDir?: string;
  cowDevice?: string;
  cowPercent?: string;
}

function registerAdd(volume: Command): void {
  volume
    .command('add <name>')
    .description('add a volume to the catalog')
    .option('--path <image>', 'the image file (file provider) or logical volume (lvm provider)', pathValue)
    .option(
      '--device <dev>',
      'the block device (dm provider): put under /dev/mapper/qrv-NAME, which is used from then on',
      pathValue,
    )
    .option('--provider <name>', `snapshot provider (${PROVIDER_NAMES.join(', ')})`, 'file')
    .option('--snapshot-dir <dir>', 'where snapshots are kept (default: .qrv-snapshots beside the image)', pathValue)
    .option('--cow-dir <dir>', 'dm: where COW files are kept (default: HOME/cow)', pathValue)
    .option(
      '--cow-device <dev>',
      'dm: a device that holds the COW store instead of a file (one snapshot at a time)',
      pathValue,
    )
    .option('--cow-percent <n>', 'dm, lvm: size of a COW store in % of the volume (default: 20)')
    .action((name: string, options: AddOptions, command: Command) =>
      execute(command, (ctx) =>
        addVolume(ctx, {
          name,
          provider: options.provider,
          ...(options.path !== undefined ? { path: options.path } : {}),
          ...(options.device !== undefined ? { device: options.device } : {}),
          ...(options.snapshotDir ? { snapshotDir: options.snapshotDir } : {}),
          ...(options.cowDir !== undefined ? { cowDir: options.cowDir } : {}),
          ...(options.cowDevice !== undefined ? { cowDevice: options.cowDevice } : {}),
          ...(options.cowPercent !== undefined ? { cowPercent: options.cowPercent } : {}),
        }),
      ),
    );
}

export function register(program: Command): void {
  const volume = program.command('volume').description('add, list and remove the volumes qrv protects');
  registerAdd(volume);
  volume
    .command('set <name>')
    .description("set the volume's own policy (it wins over its sub-clients')")
    .requiredOption('--policy <name>', 'a policy name, or "none" (required)')
    .action((name: string, options: { policy: string }, command: Command) =>
      execute(command, (ctx) => setVolumePolicy(ctx, name, options.policy)),
    );
  volume
    .command('list')
    .description('list the volumes')
    .action((_options: unknown, command: Command) => execute(command, (ctx) => listVolumes(ctx)));
  volume
    .command('activate [names...]')
    .description(
      "after a reboot: a dm volume's /dev/mapper/qrv-NAME made again, its snapshots attached over their COW stores; an instant recovery's copy (dm, lvm) goes on",
    )
    .option('--all', 'every dm volume in the catalog, and every volume an instant recovery copies onto')
    .action((names: string[], options: { all?: boolean }, command: Command) =>
      execute(command, (ctx) => activateVolumes(ctx, names, options.all === true)),
    );
  volume
    .command('remove <name>')
    .description("remove a volume from the catalog (its image is not touched; a dm volume's device is given back)")
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => removeVolume(ctx, name)));
}
