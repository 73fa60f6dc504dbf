// qrv volume add|list|remove
import type { Command } from 'commander';
import { providerNames } from '../../providers/registry.ts';
import { addVolume, listVolumes, removeVolume, setVolumePolicy } from '../../services/volumes.ts';
import { execute } from '../execute.ts';

export function register(program: Command): void {
  const volume = program.command('volume').description('add, list and remove the volumes qrv protects');
  volume
    .command('add <name>')
    .description('add a volume to the catalog')
    .requiredOption('--path <image>', 'the image file (file provider) (required)')
    .option('--provider <name>', `snapshot provider (${providerNames().join(', ')})`, 'file')
    .option('--snapshot-dir <dir>', 'where snapshots are kept (default: .qrv-snapshots beside the image)')
    .action((name: string, options: { path: string; provider: string; snapshotDir?: string }, command: Command) =>
      execute(command, (ctx) => addVolume(ctx, { name, provider: options.provider, path: options.path, ...(options.snapshotDir ? { snapshotDir: options.snapshotDir } : {}) })),
    );
  volume
    .command('set <name>')
    .description("set the volume's own policy (it wins over its sub-clients')")
    .requiredOption('--policy <name>', 'a policy name, or "none" (required)')
    .action((name: string, options: { policy: string }, command: Command) => execute(command, (ctx) => setVolumePolicy(ctx, name, options.policy)));
  volume
    .command('list')
    .description('list the volumes')
    .action((_options: unknown, command: Command) => execute(command, (ctx) => listVolumes(ctx)));
  volume
    .command('remove <name>')
    .description('remove a volume from the catalog (its image is not touched)')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => removeVolume(ctx, name)));
}
