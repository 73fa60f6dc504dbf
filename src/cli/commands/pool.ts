// qrv pool add|remove|list|show, qrv pool member add|remove
import type { Command } from 'commander';
import { parseSize } from '../../pools/capacity.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { pathValue } from '../parse.ts';

const addMember = lazy(async () => (await import('../../services/pools.ts')).addMember);
const addPool = lazy(async () => (await import('../../services/pools.ts')).addPool);
const listPools = lazy(async () => (await import('../../services/pools.ts')).listPools);
const removeMember = lazy(async () => (await import('../../services/pools.ts')).removeMember);
const removePool = lazy(async () => (await import('../../services/pools.ts')).removePool);
const showPool = lazy(async () => (await import('../../services/pools.ts')).showPool);

export function register(program: Command): void {
  const pool = program.command('pool').description('pools: sets of destinations a QRV takes its place from (best fit)');
  pool
    .command('add <name>')
    .description('create an empty pool')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => addPool(ctx, name)));
  pool
    .command('remove <name>')
    .description('remove a pool (refused while a member holds a QRV); its members are not touched')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => removePool(ctx, name)));
  pool
    .command('list')
    .description('list the pools')
    .action((_options: unknown, command: Command) => execute(command, (ctx) => listPools(ctx)));
  pool
    .command('show <name>')
    .description('show a pool and its members')
    .action((name: string, _options: unknown, command: Command) => execute(command, (ctx) => showPool(ctx, name)));

  const member = pool.command('member').description('add and remove the members of a pool');
  member
    .command('add')
    .argument('<pool>')
    .argument('<path>', 'the image file or block device', pathValue)
    .description('add an image file path (the QRV will be that file; its folder must exist) or a block device')
    .option(
      '--capacity <size>',
      'room it offers, e.g. 20G (default: the device size, or the free space of the file system)',
    )
    .action((poolName: string, memberPath: string, options: { capacity?: string }, command: Command) =>
      execute(command, (ctx) =>
        addMember(ctx, {
          pool: poolName,
          path: memberPath,
          capacityBytes: options.capacity === undefined ? null : parseSize(options.capacity),
        }),
      ),
    );
  member
    .command('remove')
    .argument('<pool>')
    .argument('<path>', 'the member as added', pathValue)
    .description('remove a member (refused while it holds a QRV); its data is not touched')
    .action((poolName: string, memberPath: string, _options: unknown, command: Command) =>
      execute(command, (ctx) => removeMember(ctx, { pool: poolName, path: memberPath })),
    );
}
