// qrv subclient add|set|show|list|remove
import type { Command } from 'commander';
import type { SubclientChanges } from '../../services/subclients.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { collect } from '../parse.ts';

const addSubclient = lazy(async () => (await import('../../services/subclients.ts')).addSubclient);
const listSubclients = lazy(async () => (await import('../../services/subclients.ts')).listSubclients);
const removeSubclient = lazy(async () => (await import('../../services/subclients.ts')).removeSubclient);
const setSubclient = lazy(async () => (await import('../../services/subclients.ts')).setSubclient);
const showSubclient = lazy(async () => (await import('../../services/subclients.ts')).showSubclient);

interface Flags {
  volume?: string[];
  add?: string[];
  remove?: string[];
  policy?: string;
  object?: string[];
  addObject?: string[];
  removeObject?: string[];
}

function changes(options: Flags): SubclientChanges {
  return {
    ...(options.volume ? { volumes: options.volume } : {}),
    ...(options.add ? { addVolumes: options.add } : {}),
    ...(options.remove ? { removeVolumes: options.remove } : {}),
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
    ...(options.object ? { objects: options.object } : {}),
    ...(options.addObject ? { addObjects: options.addObject } : {}),
    ...(options.removeObject ? { removeObjects: options.removeObject } : {}),
  };
}

export function register(program: Command): void {
  const subclient = program
    .command('subclient')
    .description('named sets of volumes and application objects snapshotted together');
  subclient
    .command('add <name>')
    .description('add a sub-client')
    .option('--volume <name>', 'a volume in it (repeatable)', collect)
    .option('--policy <name>', 'the policy its volumes follow')
    .option('--object <id>', 'an application object in it, e.g. postgresql:main/billing (repeatable)', collect)
    .action((name: string, options: Flags, command: Command) =>
      execute(command, (ctx) => addSubclient(ctx, name, changes(options))),
    );
  subclient
    .command('set <name>')
    .description('change a sub-client')
    .option('--volume <name>', 'replace its volumes with these (repeatable)', collect)
    .option('--add <name>', 'add a volume (repeatable)', collect)
    .option('--remove <name>', 'take a volume out (repeatable)', collect)
    .option('--policy <name>', 'the policy its volumes follow ("none" clears it)')
    .option('--object <id>', 'replace its application objects with these (repeatable)', collect)
    .option('--add-object <id>', 'add an application object (repeatable)', collect)
    .option('--remove-object <id>', 'take an application object out (repeatable)', collect)
    .action((name: string, options: Flags, command: Command) =>
      execute(command, (ctx) => setSubclient(ctx, name, changes(options))),
    );
  subclient
    .command('show <name>')
    .description('show a sub-client')
    .action((name: string, _o: unknown, command: Command) => execute(command, (ctx) => showSubclient(ctx, name)));
  subclient
    .command('list')
    .description('list sub-clients')
    .action((_o: unknown, command: Command) => execute(command, (ctx) => listSubclients(ctx)));
  subclient
    .command('remove <name>')
    .description('remove a sub-client (not its volumes)')
    .action((name: string, _o: unknown, command: Command) => execute(command, (ctx) => removeSubclient(ctx, name)));
}
