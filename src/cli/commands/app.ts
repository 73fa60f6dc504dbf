// qrv app list|writers: application objects (F13)
import type { Command } from 'commander';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';

const listApps = lazy(async () => (await import('../../services/app-objects.ts')).listApps);
const listWriters = lazy(async () => (await import('../../services/app-objects.ts')).listWriters);

export function register(program: Command): void {
  const app = program.command('app').description('application objects: databases qrv brings to rest and records (F13)');
  app
    .command('list [objects...]')
    .description('the objects the writers find on this host (or those named), and the volumes that hold them')
    .action((objects: string[], _o: unknown, command: Command) => execute(command, (ctx) => listApps(ctx, objects)));
  app
    .command('writers')
    .description('the application writers qrv has')
    .action((_o: unknown, command: Command) => execute(command, () => listWriters()));
}
