// What a pool member can hold, measured when it is added: a block device's size, or for an image
// file the --capacity given, else the free space of its folder's filesystem plus what a file
// already there occupies (the QRV will overwrite it). Also the sizes admins write ("10G").
import fs from 'node:fs/promises';
import path from 'node:path';
import bytes from 'bytes';
import type { PoolMember } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { errnoCode, QrvError } from '../core/errors.ts';
import { blockDeviceSize, mountedDevices } from '../system/block-device.ts';

// A number and an optional unit: K, M, G, T, P with or without "B"/"iB", or "B"; case does not matter.
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(?:i?b)?|(b))?\s*$/i;

/**
 * Bytes in a size such as "512M", "10G", "10GiB", "1.5T" or "1048576". Units are binary
 * (1G = 1024 MiB, as lvm and df -h count). `bytes` alone would read "10G" as 10 bytes, so the
 * form is checked first and handed to it as "10gb".
 */
export function parseSize(text: string, what = '--capacity'): number {
  const match = SIZE.exec(text);
  const [, number, unit] = match ?? [];
  const whole = number !== undefined && (unit !== undefined || !number.includes('.'));
  const value = whole ? bytes.parse(`${number}${unit ? `${unit}b` : ''}`) : null;
  if (value !== null && value > Number.MAX_SAFE_INTEGER) {
    throw new QrvError(
      'usage',
      'size-too-large',
      `${what} "${text}" is larger than the limit of 8 PiB (2^53-1 bytes)`,
      'give 8P or less: a larger byte count cannot be counted exactly',
    );
  }
  if (value === null || !Number.isSafeInteger(value) || value <= 0) {
    throw new QrvError(
      'usage',
      'bad-size',
      `${what} "${text}" is not a size`,
      'write a number and a unit, e.g. 512M, 10G, 1.5T; units are binary, 1G = 1024 MiB',
    );
  }
  return value;
}

export type MeasuredMember = Pick<PoolMember, 'path' | 'kind' | 'capacityBytes' | 'capacityFrom'> & {
  /** bytes an existing file at the path occupies (counted in a filesystem capacity); 0 for none or a device */
  existingBytes: number;
};

async function statOrNull(p: string) {
  try {
    return await fs.stat(p);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw new QrvError(
      'io',
      'stat-failed',
      `cannot use ${p}: ${errnoCode(error) ?? (error as Error).message}`,
      'check the path and its permissions',
    );
  }
}

/** Measures `memberPath` as a pool member; `givenBytes` is --capacity, if given. Refuses what cannot be one. */
export async function measureMember(memberPath: string, givenBytes: number | null): Promise<MeasuredMember> {
  const absolute = path.resolve(memberPath);
  const st = await statOrNull(absolute);
  if (st?.isBlockDevice()) return measureDevice(memberPath, await fs.realpath(absolute), givenBytes);
  if (st?.isDirectory()) {
    throw new QrvError(
      'refused',
      'member-kind',
      `${memberPath} is a folder; a pool member is an image file path or a block device`,
      `give a file path in it, e.g. ${path.join(absolute, 'qrv-1.img')}`,
    );
  }
  if (st && !st.isFile())
    throw new QrvError(
      'refused',
      'member-kind',
      `${memberPath} is neither a file nor a block device`,
      'give an image file path or a block device',
    );

  const folder = path.dirname(absolute);
  const folderStat = await statOrNull(folder);
  if (!folderStat?.isDirectory())
    throw new QrvError(
      'refused',
      'member-folder',
      `folder ${folder} does not exist`,
      'create it first, on the disk that will hold the QRV',
    );
  const real = st ? await fs.realpath(absolute) : path.join(await fs.realpath(folder), path.basename(absolute));
  const existingBytes = st ? st.blocks * 512 : 0;
  if (givenBytes !== null)
    return { path: real, kind: 'file', capacityBytes: givenBytes, capacityFrom: 'given', existingBytes };
  const room = await fs.statfs(path.dirname(real));
  return {
    path: real,
    kind: 'file',
    capacityBytes: room.bavail * room.bsize + existingBytes,
    capacityFrom: 'filesystem',
    existingBytes,
  };
}

async function measureDevice(memberPath: string, real: string, givenBytes: number | null): Promise<MeasuredMember> {
  if ((await mountedDevices()).has(real))
    throw new QrvError(
      'refused',
      'member-mounted',
      `${memberPath} is mounted`,
      'unmount it first; a QRV overwrites the whole device',
    );
  const size = await blockDeviceSize(real);
  if (givenBytes !== null && givenBytes > size) {
    throw new QrvError(
      'usage',
      'capacity-too-large',
      `--capacity ${formatBytes(givenBytes)} is larger than device ${memberPath} (${formatBytes(size)})`,
      'leave --capacity out to use the whole device',
    );
  }
  return {
    path: real,
    kind: 'block',
    capacityBytes: givenBytes ?? size,
    capacityFrom: givenBytes === null ? 'device' : 'given',
    existingBytes: 0,
  };
}
