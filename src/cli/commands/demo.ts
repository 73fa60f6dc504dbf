// qrv demo: the whole cycle on a small file-backed ext4 volume in a temporary home.
import type { Command } from 'commander';
import { lazy } from '../lazy.ts';
import { executeWith } from '../execute.ts';

const demo = lazy(async () => (await import('../../services/demo.ts')).demo);

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'snapshot, copy, change, copy again and recover a small ext4 image in a temporary home; exits 0 only if the recovered data matches',
    )
    .option('--keep', 'keep the temporary folder afterwards')
    .action((options: { keep?: boolean }, command: Command) =>
      executeWith(command, (reporter) => demo(reporter, { keep: Boolean(options.keep) })),
    );
}
