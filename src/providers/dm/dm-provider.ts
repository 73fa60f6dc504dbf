// The `dm` provider: any block device (/dev/sdX, a partition, an LV, a loop device), taken over at
// `qrv volume add --provider dm --device DEV` by a qrv-owned device-mapper device, qrv-<volume>
// (linear over DEV), that the admin uses from then on (/dev/mapper/qrv-<volume>). A snapshot
// switches it to a snapshot-origin over qrv-<volume>-real and adds a read-only `snapshot` target
// whose persistent copy-on-write store is a sparse file (`<cowDir>/<volume>@<id>.cow`, cowPercent
// of the volume, default 20 %, attached to a loop device) or a device given as cowDevice. The
// last snapshot's removal switches the origin back to linear; `qrv volume remove` removes
// qrv-<volume> and leaves DEV as it was (no byte of it is written by qrv). Changed ranges come
// from the snapshots' exception stores (../cow/exception-store.ts). Names and UUIDs: ./dmsetup.ts;
// dmsetup calls and checks: ./dm-calls.ts; COW stores: ./cow-store.ts; removing a snapshot's
// devices and finding what a killed qrv left: ./leftovers.ts; attaching a snapshot: ./attach.ts;
// after a reboot: ./activate.ts.
// Every dmsetup / losetup / blockdev call goes through the tool wrapper with an argument array.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ByteRange } from '../../core/byte-range.ts';
import { QrvError } from '../../core/errors.ts';
import { unitedStoreRanges } from '../cow/exception-store.ts';
import type {
  AdoptSetup,
  CreateOptions,
  HeldSnapshot,
  PreparedSnapshot,
  Provider,
  SnapshotHealth,
  SnapshotMade,
  SnapshotRef,
  VolumeFacts,
  VolumeRef,
} from '../provider.ts';
import { mountpointsOf } from '../../system/freeze.ts';
import { blockDeviceId, devicePathOf } from './devices.ts';
import {
  collidingName,
  isSnapshotId,
  mapperPath,
  originName,
  originUuid,
  realName,
  realUuid,
  snapshotIdOfHandle,
  snapshotUuid,
  type DmDevice,
} from './dmsetup.ts';
import {
  checkFree,
  create,
  deviceBytes,
  foreignDevice,
  listDevices,
  liveTable,
  ownOrigin,
  ownSnapshots,
  removeDevice,
  requireRoot,
  SECTOR,
  snapshotStatus,
  table,
} from './dm-calls.ts';
import { detach, leftovers } from './leftovers.ts';
import { activate } from './activate.ts';
import { METHOD, finishAttach, prepareAttach, undone, type Attachment } from './attach.ts';
import { cowPercentOf, DEFAULT_COW_PERCENT, makeCowStore, releaseCow } from './cow-store.ts';

// ---- the provider --------------------------------------------------------------------------

async function inspect(volume: VolumeRef): Promise<VolumeFacts> {
  const origin = await ownOrigin(volume, await listDevices());
  return { sizeBytes: await deviceBytes(mapperPath(origin.name)), kind: 'block' };
}

function defaultOptions(): Record<string, string> {
  return { cowPercent: String(DEFAULT_COW_PERCENT) };
}

async function adopt(volume: VolumeRef, setup: AdoptSetup): Promise<VolumeRef> {
  requireRoot();
  const name = originName(volume.name);
  if (collidingName(volume.name)) {
    throw new QrvError(
      'usage',
      'bad-volume-name',
      `volume name "${volume.name}" cannot be a dm volume: its device ${name} would look like another volume's -real or -snap- device`,
      'choose a name that does not end in "-real" and has no "-snap" in it',
    );
  }
  const device = volume.options.device ?? volume.path;
  const { id, devices } = await adoptableDevice(volume.name, device);
  const busyHint = `unmount it (and stop what uses it), run \`qrv volume add ${volume.name} --provider dm --device ${device}\` again, then mount ${mapperPath(name)} instead`;
  await checkFree(device, 'device', 'device-busy', busyHint);
  const options: Record<string, string> = {
    ...volume.options,
    device,
    cowDir: volume.options.cowDir ?? path.join(setup.home, 'cow'),
    cowPercent: String(cowPercentOf(volume)),
  };
  if (options.cowDevice) await checkCowDevice(options.cowDevice, id);
  const existing = devices.find((d) => d.name === name);
  if (existing) {
    throw new QrvError(
      'refused',
      'dm-name-taken',
      `a device-mapper device named ${name} exists already${existing.uuid === originUuid(volume.name) ? " (qrv's, left from an earlier add?)" : ''}`,
      `if nothing uses it, remove it with \`dmsetup remove ${name}\`; or choose another volume name`,
    );
  }
  const sectors = (await deviceBytes(device)) / SECTOR;
  try {
    // by major:minor: a path could hold characters a table line cannot
    await create(name, originUuid(volume.name), `0 ${sectors} linear ${id} 0`);
  } catch (error) {
    if (error instanceof QrvError && /busy/i.test(error.message))
      throw new QrvError(
        'refused',
        'device-busy',
        `${device} is in use (the kernel says it is busy: mounted, swap, or opened exclusively)`,
        busyHint,
      );
    throw error;
  }
  return { ...volume, path: mapperPath(name), options };
}

/**
 * The device a volume is to be put over: a block device, not one of qrv's own; its major:minor,
 * and the device-mapper devices there are.
 */
async function adoptableDevice(volume: string, device: string): Promise<{ id: string | null; devices: DmDevice[] }> {
  const st = await fs.stat(device).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError(
      'io',
      'volume-missing',
      `volume "${volume}": cannot use ${device} (${error.code ?? error.message})`,
      'check the device path',
    );
  });
  if (!st.isBlockDevice())
    throw new QrvError(
      'usage',
      'not-a-block-device',
      `volume "${volume}": ${device} is not a block device`,
      'the dm provider takes block devices (--device /dev/sdX); for an image file use --provider file',
    );
  const devices = await listDevices();
  const id = await blockDeviceId(device);
  const qrvOwn = devices.find((d) => `${d.major}:${d.minor}` === id && d.uuid.startsWith('QRV-'));
  if (qrvOwn)
    throw new QrvError(
      'refused',
      'device-is-qrv',
      `${device} is qrv's own device ${qrvOwn.name}`,
      'give the device under it (the one given at `qrv volume add`)',
    );
  return { id, devices };
}

/** A --cow-device: a block device, not the volume's (`volumeId`), not in use. */
async function checkCowDevice(cowDevice: string, volumeId: string | null): Promise<void> {
  const cowId = await blockDeviceId(cowDevice);
  if (!cowId)
    throw new QrvError(
      'usage',
      'not-a-block-device',
      `COW device ${cowDevice} is not a block device`,
      'give --cow-device a block device that holds nothing you need (its start is overwritten at each snapshot)',
    );
  if (cowId === volumeId)
    throw new QrvError(
      'usage',
      'cow-device-is-volume',
      `the COW device ${cowDevice} is the volume's device itself`,
      'give --cow-device another device, or leave it out for a COW file',
    );
  await checkFree(cowDevice, 'COW device', 'cow-device-busy', 'give --cow-device a device that is not mounted or used');
}

async function release(volume: VolumeRef): Promise<void> {
  requireRoot();
  const devices = await listDevices();
  const snapshots = ownSnapshots(volume, devices);
  if (snapshots.length) {
    throw new QrvError(
      'refused',
      'volume-has-snapshots',
      `volume "${volume.name}" still has device-mapper snapshots: ${snapshots.map((s) => s.name).join(', ')}`,
      'remove them first with `qrv unsnap ID` (or `qrv doctor` for ones the catalog does not know)',
    );
  }
  const name = originName(volume.name);
  const origin = devices.find((d) => d.name === name);
  const real = devices.find((d) => d.name === realName(volume.name));
  if (real && real.uuid !== realUuid(volume.name)) throw foreignDevice(real.name, real.uuid);
  if (origin) {
    if (origin.uuid !== originUuid(volume.name)) throw foreignDevice(name, origin.uuid);
    if (origin.open > 0) {
      const points = await mountpointsOf([mapperPath(name)]);
      throw new QrvError(
        'refused',
        'device-busy',
        `${mapperPath(name)} is in use${points.length ? ` (mounted on ${points.join(', ')})` : ` (open ${origin.open} time(s))`}`,
        `unmount it and stop what uses it, then remove the volume; use ${volume.options.device ?? 'the device'} itself afterwards`,
      );
    }
    await removeDevice(name);
  }
  if (real) await removeDevice(real.name);
}

/** A prepared snapshot, handed from prepareSnapshot to createSnapshot by the engine. */
class PreparedDm implements PreparedSnapshot {
  constructor(readonly attachment: Attachment) {}
  async discard(): Promise<void> {
    await undone(this.attachment, null);
  }
}

function checkSnapshotId(snapshotId: string): void {
  if (!isSnapshotId(snapshotId))
    throw new QrvError(
      'usage',
      'bad-snapshot-id',
      `"${snapshotId}" is not a snapshot id`,
      'snapshot ids are s- and twelve (before 2026-12: eight) hex digits',
    );
}

/** Everything but the switch, before the engine freezes the volume: the COW store, -real. */
async function prepareSnapshot(volume: VolumeRef, snapshotId: string): Promise<PreparedSnapshot> {
  requireRoot();
  checkSnapshotId(snapshotId);
  return new PreparedDm(
    await prepareAttach(
      volume,
      snapshotId,
      (sizeBytes, undo) => makeCowStore(volume, snapshotId, sizeBytes, undo),
      'not made',
    ),
  );
}

async function createSnapshot(volume: VolumeRef, snapshotId: string, options?: CreateOptions): Promise<SnapshotMade> {
  requireRoot();
  checkSnapshotId(snapshotId);
  const prepared =
    options?.prepared instanceof PreparedDm && options.prepared.attachment.snapshotId === snapshotId
      ? options.prepared.attachment
      : null;
  const attachment =
    prepared ??
    (await prepareAttach(
      volume,
      snapshotId,
      (sizeBytes, undo) => makeCowStore(volume, snapshotId, sizeBytes, undo),
      'not made',
    ));
  return finishAttach(attachment, options?.frozen ?? false);
}

async function removeSnapshot(volume: VolumeRef, handle: string): Promise<void> {
  const snapshotId = snapshotIdOfHandle(volume.name, handle);
  if (!snapshotId)
    throw new QrvError(
      'refused',
      'foreign-handle',
      `${handle} is not a qrv snapshot of volume "${volume.name}"`,
      'remove it by hand (dmsetup remove) if it is really a qrv snapshot',
    );
  requireRoot();
  const devices = await listDevices();
  const snapshot = devices.find((d) => d.name === handle);
  if (snapshot && snapshot.uuid !== snapshotUuid(volume.name, snapshotId)) {
    throw new QrvError(
      'refused',
      'foreign-handle',
      `device-mapper device ${handle} is not qrv's (its UUID is "${snapshot.uuid}")`,
      'qrv leaves it alone; remove it by hand if it is really a qrv snapshot',
    );
  }
  let cowId: string | null = null;
  if (snapshot) {
    // none when a qrv was killed inside `dmsetup create` (no table loaded yet)
    const line = await liveTable(handle);
    if (line?.target === 'snapshot') cowId = line.args[1] ?? null;
  }
  await detach(volume, devices, snapshot ? handle : null);
  await releaseCow(volume, snapshotId, cowId);
}

async function listSnapshots(volume: VolumeRef): Promise<HeldSnapshot[]> {
  return ownSnapshots(volume, await listDevices()).map((s) => ({
    handle: s.name,
    path: mapperPath(s.name),
    snapshotId: s.snapshotId,
  }));
}

async function snapshotHealth(volume: VolumeRef, snapshot: SnapshotRef): Promise<SnapshotHealth> {
  if (!snapshotIdOfHandle(volume.name, snapshot.handle))
    throw new QrvError(
      'refused',
      'foreign-handle',
      `${snapshot.handle} is not a qrv snapshot of volume "${volume.name}"`,
      'check the snapshot row',
    );
  const status = await snapshotStatus(snapshot.handle);
  if (status.state === 'active')
    return { invalid: false, usedPercent: (status.usedSectors / status.totalSectors) * 100 };
  return { invalid: true, usedPercent: status.state === 'overflow' ? 100 : null };
}

/** The COW device of an active snapshot of this volume (the loop device, or the given device). */
async function cowDeviceOf(handle: string): Promise<string | null> {
  const line = await table(handle);
  const id = line.target === 'snapshot' ? line.args[1] : undefined;
  return id && /^\d+:\d+$/.test(id) ? devicePathOf(id) : null;
}

async function changedRanges(volume: VolumeRef, from: SnapshotRef, to: SnapshotRef): Promise<ByteRange[] | null> {
  const refs = [from, to];
  if (refs.some((s) => s.method !== METHOD || !snapshotIdOfHandle(volume.name, s.handle))) return null;
  try {
    const cows: string[] = [];
    for (const ref of refs) {
      if ((await snapshotStatus(ref.handle)).state !== 'active') return null;
      const cow = await cowDeviceOf(ref.handle);
      if (!cow) return null;
      cows.push(cow);
    }
    return await unitedStoreRanges(cows, to.sizeBytes);
  } catch {
    return null;
  }
}

export const dmProvider: Provider = {
  name: 'dm',
  description:
    'any block device (--device /dev/sdX), put under a qrv device-mapper device /dev/mapper/qrv-NAME; dm snapshot targets over a COW file (cowPercent of the volume, default 20 %) or --cow-device',
  inspect,
  defaultOptions,
  prepareSnapshot,
  createSnapshot,
  removeSnapshot,
  listSnapshots,
  activate,
  changedRanges,
  snapshotHealth,
  adopt,
  release,
  leftovers,
  // qrv-NAME is qrv's own: nothing else activates it; activate makes it again after a reboot
  instant: { hold: async () => undefined, activate: async (volume) => void (await activate(volume, [])) },
};
