// qrv remove QRV
import type { Command } from 'commander';
import { lazy } from '../lazy.ts';
import { execute } from '../execute.ts';

const removeQrv = lazy(async () => (await import('../../services/remove-qrv.ts')).removeQrv);

export function register(program: Command): void {
  program
    .command('remove <qrv-id>')
    .description('remove a QRV: mark it removed, delete its image file, give its pool member back')
    .option('--keep-data', "keep the image file (a block device's data is never touched)")
    .action((qrvId: string, options: { keepData?: boolean }, command: Command) =>
      execute(command, (ctx) => removeQrv(ctx, { qrvId, keepData: Boolean(options.keepData) })),
    );
}
