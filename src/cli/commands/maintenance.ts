// qrv verify QRV [--deep] | qrv doctor [--fix]: checking what qrv keeps, and repairing what a
// killed job left behind.
import type { Command } from 'commander';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';

const doctor = lazy(async () => (await import('../../services/doctor.ts')).doctor);
const verifyQrv = lazy(async () => (await import('../../services/verify.ts')).verifyQrv);

export function register(program: Command): void {
  program
    .command('verify <qrv-id>')
    .description(
      're-read a QRV and check every block against its hash ledger; exit 9 and name every bad block on a mismatch',
    )
    .option('--deep', 'also compare with the snapshot the QRV reflects, if it still exists')
    .action((qrvId: string, options: { deep?: boolean }, command: Command) =>
      execute(command, (ctx) => verifyQrv(ctx, { qrvId, deep: Boolean(options.deep) })),
    );

  program
    .command('doctor')
    .description(
      'find unfinished jobs and snapshots the catalog and the providers disagree on, and say what would be done (exit 11 if anything)',
    )
    .option(
      '--fix',
      'do it: resume killed copies, mark dead jobs failed, remove orphaned snapshots and what killed ones left, mark vanished ones removed',
    )
    .action((options: { fix?: boolean }, command: Command) =>
      execute(command, (ctx) => doctor(ctx, { fix: Boolean(options.fix) })),
    );
}
