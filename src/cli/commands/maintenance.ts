// qrv verify QRV [--deep] [--throttle RATE] | qrv doctor [--fix]: checking what qrv keeps, and repairing what a
// killed job left behind.
import type { Command } from 'commander';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';
import { QrvError } from '../../core/errors.ts';
import { throttleOption } from '../parse.ts';

const doctor = lazy(async () => (await import('../../services/doctor.ts')).doctor);
const verifyQrv = lazy(async () => (await import('../../services/verify.ts')).verifyQrv);
const verifyArchive = lazy(async () => (await import('../../services/verify-archive.ts')).verifyArchive);

export function register(program: Command): void {
  program
    .command('verify <id>')
    .description(
      're-read a QRV and check every block against its hash ledger, or check an archive generation (a-…) in its store; exit 9 and name what is bad',
    )
    .option(
      '--deep',
      'a QRV: also compare with the snapshot it reflects, if it still exists; a generation: fetch every chunk and check it',
    )
    .option(
      '--throttle <rate>',
      'a QRV: the most it (and, with --deep, the snapshot) may be read a second, e.g. 40M (K, M, G: binary units)',
    )
    .action((id: string, options: { deep?: boolean; throttle?: string }, command: Command) =>
      execute(command, (ctx) => {
        const deep = Boolean(options.deep);
        if (!id.startsWith('a-')) return verifyQrv(ctx, { qrvId: id, deep, ...throttleOption(options) });
        if (options.throttle !== undefined)
          throw new QrvError(
            'usage',
            'usage',
            '--throttle is for a QRV, not an archive generation',
            `qrv verify ${id}`,
          );
        return verifyArchive(ctx, { id, deep });
      }),
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
