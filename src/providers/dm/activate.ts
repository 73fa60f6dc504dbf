// After a reboot the kernel has forgotten a dm volume's devices: its origin is made again and its
// snapshots attached over their persistent COW stores (./attach.ts). `qrv volume activate`.
import { QrvError } from '../../core/errors.ts';
import type { Activation, VolumeRef } from '../provider.ts';
import { blockDeviceId } from './devices.ts';
import { mapperPath, originName, originUuid, realName, snapshotName, type DmDevice } from './dmsetup.ts';
import { checkFree, create, deviceBytes, foreignDevice, listDevices, requireRoot, SECTOR } from './dm-calls.ts';
import { finishAttach, prepareAttach } from './attach.ts';
import { existingCowStore } from './cow-store.ts';

/**
 * After a reboot (the kernel's tables are gone): makes qrv-<volume> over the device again and
 * attaches each of `snapshotIds` over its persistent COW store, which the kernel reads back
 * (`P`). Only right if nothing wrote to the device itself in between (docs/providers.md).
 */
export async function activate(volume: VolumeRef, snapshotIds: string[]): Promise<Activation> {
  requireRoot();
  const devices = await listDevices();
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  if (origin && origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
  if (!origin) await recreateOrigin(volume, devices);
  const result: Activation = { originCreated: !origin, attached: [], active: [], failed: [] };
  for (const snapshotId of snapshotIds) {
    if (devices.some((d) => d.name === snapshotName(volume.name, snapshotId))) {
      result.active.push(snapshotId);
      continue;
    }
    try {
      await finishAttach(
        await prepareAttach(
          volume,
          snapshotId,
          (_size, undo) => existingCowStore(volume, snapshotId, undo),
          'not attached again',
        ),
        false,
      );
      result.attached.push(snapshotId);
    } catch (error) {
      if (error instanceof QrvError && error.code === 'resume-failed') throw error;
      result.failed.push({ snapshotId, reason: (error as Error).message });
    }
  }
  return result;
}

/** qrv-<volume> made again over the recorded device: there, not in use, and no -real left alone. */
async function recreateOrigin(volume: VolumeRef, devices: DmDevice[]): Promise<void> {
  const name = originName(volume.name);
  const device = volume.options.device;
  if (!device || !(await blockDeviceId(device)))
    throw new QrvError(
      'io',
      'volume-missing',
      `volume "${volume.name}": its device ${device ?? '(none recorded)'} is not there`,
      'check the device (its name may have changed: /dev/disk/by-id/ names do not)',
    );
  await checkFree(
    device,
    'device',
    'device-busy',
    `unmount it and stop what uses it, then activate again and mount ${mapperPath(name)}`,
  );
  const real = devices.find((d) => d.name === realName(volume.name));
  if (real)
    throw new QrvError(
      'refused',
      'dm-state',
      `${real.name} exists without ${name}`,
      `remove it with \`dmsetup remove ${real.name}\` if nothing uses it`,
    );
  await create(
    name,
    originUuid(volume.name),
    `0 ${(await deviceBytes(device)) / SECTOR} linear ${await blockDeviceId(device)} 0`,
  );
}
