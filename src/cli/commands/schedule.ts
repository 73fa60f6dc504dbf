// qrv discover | prune | cron: what keeps qrv going from cron.
import type { Command } from 'commander';
import { QrvError } from '../../core/errors.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { collect, collectPaths } from '../parse.ts';

const cron = lazy(async () => (await import('../../services/cron.ts')).cron);
const discover = lazy(async () => (await import('../../services/discover.ts')).discover);
const prune = lazy(async () => (await import('../../services/prune.ts')).prune);

export function register(program: Command): void {
  program
    .command('discover')
    .description(
      'find image files and logical volumes matching the remembered discovery globs and add new ones to the default sub-client',
    )
    .option('--path <glob>', 'an absolute glob to remember and search, e.g. "/srv/vm/*.img" (repeatable)', collectPaths)
    .option(
      '--lvm <VG[/LV]>',
      'logical volumes to remember and add: a VG, VG/LV, "*" matches any part, e.g. "vg0/db*" (repeatable)',
      collect,
    )
    .option(
      '--forget <glob>',
      'stop remembering a glob or lvm selector, as listed (its volumes stay) (repeatable)',
      collect,
    )
    .action((options: { path?: string[]; lvm?: string[]; forget?: string[] }, command: Command) =>
      execute(command, (ctx) => discover(ctx, options.path ?? [], options.lvm ?? [], options.forget ?? [])),
    );
  program
    .command('prune')
    .description(
      'remove snapshots that lapsed or are beyond --keep (never pinned ones) and generations outside their grid',
    )
    .option('--dry-run', 'list what would go and change nothing')
    .option('--keep <N>', "keep at most the newest N snapshots of each volume (default: each policy's --keep)")
    .option(
      '--archive-keep <grid>',
      "archive generations to keep in each store, e.g. 24h,7d,4w,12m (default: each policy's --archive-keep)",
    )
    .action((options: { dryRun?: boolean; keep?: string; archiveKeep?: string }, command: Command) =>
      execute(command, (ctx) => {
        if (options.keep !== undefined && !/^[1-9]\d*$/.test(options.keep)) {
          throw new QrvError(
            'usage',
            'bad-keep',
            `--keep "${options.keep}" is not a whole number ≥ 1`,
            'give how many snapshots of each volume to keep',
          );
        }
        return prune(ctx, {
          dryRun: Boolean(options.dryRun),
          ...(options.keep !== undefined ? { keep: Number(options.keep) } : {}),
          ...(options.archiveKeep !== undefined ? { archiveKeep: options.archiveKeep } : {}),
        });
      }),
    );
  program
    .command('cron')
    .description('for cron or a systemd timer: take due snapshots, make due copies, prune; silent when nothing is due')
    .action((_o: unknown, command: Command) => execute(command, (ctx) => cron(ctx)));
}
