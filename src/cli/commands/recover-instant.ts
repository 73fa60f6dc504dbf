// `qrv recover VOLUME --from QRV --instant [--no-wait] [--throttle 40M|25%]` and `qrv recover --status`.
import { QrvError } from '../../core/errors.ts';
import { lazy } from '../lazy.ts';
import type { execute } from '../execute.ts';

type Ctx = Parameters<Parameters<typeof execute>[1]>[0];

const recoverInstant = lazy(async () => (await import('../../services/instant.ts')).recoverInstant);
const hydrationStatus = lazy(async () => (await import('../../services/instant.ts')).hydrationStatus);

export interface InstantOptions {
  from?: string;
  asOf?: string;
  path?: string[];
  group?: string;
  to?: string;
  full?: boolean;
  resume?: string;
  via?: string;
  into?: string;
  instant?: boolean;
  status?: boolean;
  wait?: boolean;
  throttle?: string;
}

const usage = (message: string, hint: string): QrvError => new QrvError('usage', 'usage', message, hint);

function refuseOthers(options: InstantOptions, allowed: Array<keyof InstantOptions>, what: string): void {
  const all = ['from', 'asOf', 'path', 'group', 'to', 'full', 'resume', 'via', 'into', 'throttle'] as const;
  const given = all.filter((o) => !allowed.includes(o) && options[o] !== undefined && options[o] !== false);
  if (given.length)
    throw usage(
      `${what} does not go with --${given.map((o) => o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')}`,
      'e.g. `qrv recover web --from q-1a2b3c4d5e6f --instant`',
    );
}

/** `--instant`: the volume reads the QRV at once while the kernel copies it back. */
export function instantCommand(ctx: Ctx, volume: string | undefined, options: InstantOptions) {
  refuseOthers(options, ['from', 'throttle'], '--instant');
  if (options.status) throw usage('--instant does not go with --status', 'give one of them');
  if (volume === undefined || options.from === undefined)
    throw usage(
      'qrv recover --instant needs a volume and --from <QRV>',
      'e.g. `qrv recover web --from q-1a2b3c4d5e6f --instant`',
    );
  return recoverInstant(ctx, {
    volume,
    from: options.from,
    wait: options.wait !== false,
    ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
  });
}

/** --throttle and --no-wait without --instant. */
export function refuseInstantOptions(options: InstantOptions): void {
  if (options.throttle !== undefined || options.wait === false)
    throw usage(
      '--throttle and --no-wait go with --instant',
      'e.g. `qrv recover web --from q-1a2b3c4d5e6f --instant --no-wait`',
    );
}

/** `--status [VOLUME]`: how far each instant recovery is; the ones done are finished. */
export function statusCommand(ctx: Ctx, volume: string | undefined, options: InstantOptions) {
  refuseOthers(options, [], '--status');
  return hydrationStatus(ctx, volume === undefined ? [] : [volume]);
}
