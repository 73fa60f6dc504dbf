// What a QRV's destination can become as a volume's primary (`qrv promote`): an image file is a
// `file` volume; a logical volume (found through sysfs: a dm device whose UUID is LVM's, without
// a sub-device suffix) is an `lvm` volume at /dev/VG/LV; any other block device is taken over by
// the `dm` provider, as `qrv volume add --provider dm --device` does.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Qrv, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { blockDeviceSize, majorMinor } from '../system/block-device.ts';

export interface PromoteTarget {
  provider: 'file' | 'lvm' | 'dm';
  /** the path the volume row gets (dm: the device, until adopt gives /dev/mapper/qrv-NAME) */
  path: string;
  sizeBytes: number;
}

/** An LVM LV's dm name "VG-LV" (each "-" inside VG or LV doubled) → [VG, LV]. */
export function splitLvmName(dmName: string): [string, string] | null {
  const at = /(?<!-)-(?!-)/.exec(dmName)?.index;
  if (at === undefined) return null;
  const undouble = (part: string) => part.replace(/--/g, '-');
  return [undouble(dmName.slice(0, at)), undouble(dmName.slice(at + 1))];
}

/** /dev/VG/LV of a block device that is an ordinary LVM logical volume, or null. */
export async function lvPathOf(device: string): Promise<string | null> {
  const st = await fs.stat(device);
  const id = majorMinor(st.rdev);
  const uuid = (await fs.readFile(`/sys/dev/block/${id}/dm/uuid`, 'utf8').catch(() => '')).trim();
  // "LVM-" + VG UUID + LV UUID (64 characters); sub-devices (-real, -cow, -tpool, …) add a suffix.
  if (!/^LVM-[A-Za-z0-9]{64}$/.test(uuid)) return null;
  const name = (await fs.readFile(`/sys/dev/block/${id}/dm/name`, 'utf8').catch(() => '')).trim();
  const parts = splitLvmName(name);
  if (!parts) return null;
  const lvPath = `/dev/${parts[0]}/${parts[1]}`;
  const check = await fs.stat(lvPath).catch(() => null);
  return check?.isBlockDevice() && check.rdev === st.rdev ? lvPath : null;
}

/** Where and as what the volume lives once `qrv` is promoted; throws when its data cannot be used. */
export async function promoteTarget(qrv: Qrv, volume: Volume): Promise<PromoteTarget> {
  const st = await fs.stat(qrv.destination).catch(() => null);
  if (!st)
    throw new QrvError(
      'io',
      'data-missing',
      `QRV ${qrv.id}'s ${qrv.destinationKind === 'block' ? 'device' : 'image'} ${qrv.destination} is gone`,
      'promote another QRV (`qrv list --volume ' + volume.name + '`)',
    );
  if (qrv.destinationKind === 'file') {
    if (!st.isFile())
      throw new QrvError(
        'refused',
        'target-kind',
        `${qrv.destination} is no longer a regular file`,
        'promote another QRV',
      );
    if (st.size < qrv.sizeBytes)
      throw new QrvError(
        'refused',
        'target-too-small',
        `${qrv.destination} holds ${st.size} bytes, less than the QRV's ${qrv.sizeBytes}`,
        'promote another QRV',
      );
    return { provider: 'file', path: path.resolve(qrv.destination), sizeBytes: st.size };
  }
  if (!st.isBlockDevice())
    throw new QrvError(
      'refused',
      'target-kind',
      `${qrv.destination} is no longer a block device`,
      'promote another QRV',
    );
  const sizeBytes = await blockDeviceSize(qrv.destination);
  const lv = await lvPathOf(qrv.destination);
  if (lv) return { provider: 'lvm', path: lv, sizeBytes };
  return { provider: 'dm', path: qrv.destination, sizeBytes };
}
