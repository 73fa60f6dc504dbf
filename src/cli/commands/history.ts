// qrv history [--volume V] [--since T] [--kind K] [--limit N]: what is finished, newest first.
import type { Command } from 'commander';
import type { HistoryRequest } from '../../services/history.ts';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';

const history = lazy(async () => (await import('../../services/history.ts')).history);

export function register(program: Command): void {
  program
    .command('history')
    .description(
      'finished jobs, removed snapshots, QRV updates and prune results, newest first (from the catalog and the history store)',
    )
    .option('--volume <name>', 'only this volume')
    .option(
      '--since <when>',
      'only since then: a duration back from now (1d, 12h) or a time (2026-11-25, "yesterday 18:00")',
    )
    .option(
      '--kind <kind>',
      'only this kind: job, snapshot, qrv-update, prune, or a job kind (snap, copy, unsnap, run, recover, promote)',
    )
    .option('--limit <n>', 'at most this many (default: 1000 without --since, all with it)', (value: string) =>
      Number(value),
    )
    .action((options: { volume?: string; since?: string; kind?: string; limit?: number }, command: Command) => {
      const request = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as HistoryRequest;
      return execute(command, (ctx) => history(ctx, request));
    });
}
