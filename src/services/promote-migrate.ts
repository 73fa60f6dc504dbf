// `qrv promote QRV --migrate-to DEVICE`: the volume's primary becomes DEVICE (a fast disk) instead
// of the QRV's own image or device (which may be on a slow one), usable at once: promote switches
// the volume to DEVICE (an LV: lvm; any other device: taken over by dm), then an instant recovery
// (./instant.ts) makes it read the QRV while the kernel copies the QRV onto it. The QRV is never
// written and stays a QRV (ready, in its pool).
import type { Qrv } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { namedTarget } from '../engine/destination.ts';
import { holdersOf, refuseProtected } from '../engine/protected.ts';
import type { Summary } from '../output/printer.ts';
import { blockDeviceSize } from '../system/block-device.ts';
import { describeUse, usesOf } from '../system/device-use.ts';
import { recoverInstant } from './instant.ts';
import { lvPathOf, type PromoteTarget } from './promote-target.ts';

/** DEVICE as the volume's new primary: a block device of the QRV's size, nothing of qrv's, not in use. */
export async function migrateTarget(ctx: Context, qrv: Qrv, device: string): Promise<PromoteTarget> {
  const { target, st } = await namedTarget(device);
  if (!st?.isBlockDevice())
    throw new QrvError(
      'refused',
      'target-kind',
      `${device} is not a block device`,
      'give --migrate-to a disk, partition or LV',
    );
  refuseProtected(await holdersOf(await ctx.catalog.read(), ctx.catalog.home, target, st), 'target', target, {
    volume: qrv.volume,
  });
  const uses = await usesOf(target);
  if (uses.length)
    throw new QrvError(
      'refused',
      'target-in-use',
      `${target} is ${uses.map(describeUse).join(', ')}`,
      'give --migrate-to a device nothing uses',
    );
  const sizeBytes = await blockDeviceSize(target);
  if (sizeBytes !== qrv.sizeBytes)
    throw new QrvError(
      'refused',
      'instant-unsupported',
      `${target} holds ${sizeBytes} bytes and QRV ${qrv.id} ${qrv.sizeBytes}: the device must be the QRV's size`,
      `make an LV or partition of exactly ${qrv.sizeBytes} bytes (lvcreate -L ${qrv.sizeBytes}b …)`,
    );
  const lv = await lvPathOf(target);
  return lv ? { provider: 'lvm', path: lv, sizeBytes } : { provider: 'dm', path: target, sizeBytes };
}

/** After the switch: the instant recovery of the volume, now on DEVICE, from the QRV. */
export async function migrate(
  ctx: Context,
  promoted: Summary,
  it: { volume: string; qrv: string; wait: boolean; throttle?: string },
): Promise<Summary> {
  const recovered = await recoverInstant(ctx, {
    volume: it.volume,
    from: it.qrv,
    wait: it.wait,
    ...(it.throttle !== undefined ? { throttle: it.throttle } : {}),
  }).catch((error: unknown) => {
    if (!(error instanceof QrvError) || error.code === 'interrupted') throw error;
    throw new QrvError(
      error.exit,
      error.code,
      `volume ${it.volume} was moved to its new device, but the copy of ${it.qrv} onto it did not start: ${error.message}`,
      `do not use the device before it holds the QRV: qrv recover ${it.volume} --from ${it.qrv} --instant (or --force)`,
    );
  });
  return {
    data: { ...promoted.data, recovery: recovered.data },
    lines: [...promoted.lines.slice(0, -1), ...recovered.lines, promoted.lines.at(-1) ?? ''],
  };
}
