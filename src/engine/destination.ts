// Where a QRV goes, checked before any byte moves: never the volume or a snapshot itself, never
// another volume's QRV, never a file that is not a QRV unless --force, never a mounted device,
// and never a place too small to hold it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Qrv, Volume } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { blockDeviceSize, mountedDevices } from '../system/block-device.ts';
import { jobAlive } from './job-recorder.ts';
import { reserveMember } from '../pools/reserve.ts';

export interface Destination {
  path: string;
  kind: 'file' | 'block';
  /** the QRV already kept at this path for this volume, which the copy updates */
  existing: Qrv | null;
}

async function realOrResolved(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}


/** What is copied: a snapshot, or (for a check before the snapshot exists) the volume itself. */
export interface CopySource {
  path: string;
  sizeBytes: number;
}

export async function resolveDestination(data: CatalogData, volume: Volume, snapshot: CopySource, to: string, force: boolean, viaPool = false): Promise<Destination> {
  let target = path.resolve(to);
  let st = await fs.stat(target).catch(() => null);
  if (st?.isDirectory()) {
    // A folder: the QRV is a file in it, named after the volume (one QRV per volume per folder).
    const kept = data.qrvs.find((q) => q.volume === volume.name && q.state !== 'removed' && q.state !== 'promoted' && path.dirname(q.destination) === target);
    target = kept ? kept.destination : await freeName(data, target, volume.name);
    st = await fs.stat(target).catch(() => null);
  }
  const real = await realOrResolved(target);

  for (const other of [volume.path, snapshot.path]) {
    if (other && (await realOrResolved(other)) === real) {
      throw new QrvError('refused', 'destination-is-source', `destination ${to} is the ${other === volume.path ? 'volume' : 'snapshot'} itself`, 'choose a destination on another disk');
    }
  }
  for (const v of data.volumes) {
    // dm: the device under qrv's linear device is the volume too.
    for (const held of [v.path, v.options.device].filter((p): p is string => Boolean(p))) {
      if ((await realOrResolved(held)) === real) throw new QrvError('refused', 'destination-is-volume', `destination ${to} is volume "${v.name}"${held === v.path ? '' : ` (the device under ${v.path})`}`, 'choose a destination that holds no volume');
    }
  }
  const pool = data.pools.find((p) => p.members.some((m) => m.path === real));
  if (pool && !viaPool) {
    throw new QrvError('refused', 'destination-in-pool', `destination ${to} is a member of pool "${pool.name}"`, `use --to pool:${pool.name}, so that the pool reserves it`);
  }
  const promoted = data.qrvs.find((q) => q.state === 'promoted' && q.destination === real);
  if (promoted) throw new QrvError('refused', 'destination-is-volume', `destination ${to} is QRV ${promoted.id}, promoted to be the primary of "${promoted.volume}"`, 'choose a destination that holds no volume');
  const holders = data.qrvs.filter((q) => q.state !== 'removed' && q.destination === real);
  const foreign = holders.find((q) => q.volume !== volume.name);
  if (foreign) {
    throw new QrvError('refused', 'destination-in-use', `destination ${to} holds QRV ${foreign.id} of volume "${foreign.volume}"`, 'choose another destination');
  }
  const existing = holders.find((q) => q.volume === volume.name) ?? null;
  if (existing?.state === 'copying' && data.jobs.some((job) => job.qrvId === existing.id && jobAlive(job))) {
    throw new QrvError('busy', 'destination-busy', `QRV ${existing.id} at ${to} is being copied by another job`, 'wait for that job, or see it with `qrv list`');
  }

  if (st?.isBlockDevice()) {
    if ((await mountedDevices()).has(real)) throw new QrvError('refused', 'destination-mounted', `destination ${to} is mounted`, 'unmount it first; a QRV overwrites the whole device');
    const size = await blockDeviceSize(real);
    if (size < snapshot.sizeBytes) throw tooSmall(to, size, snapshot.sizeBytes);
    if (!existing && !force) throw new QrvError('refused', 'destination-exists', `destination ${to} is a device that holds no QRV yet`, 'add --force to overwrite the whole device');
    return { path: real, kind: 'block', existing };
  }
  if (st && !st.isFile()) throw new QrvError('refused', 'destination-kind', `destination ${to} is neither a file nor a block device`, 'give an image file path, a folder or a block device');
  if (st && !existing && !force) throw new QrvError('refused', 'destination-exists', `destination ${to} exists and is not a QRV of "${volume.name}"`, 'add --force to overwrite it, or choose a new path');

  const dir = path.dirname(real);
  const fsStat = await fs.statfs(dir).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError('refused', 'destination-folder', `cannot use folder ${dir} for the destination (${error.code ?? error.message})`, 'create the folder first or choose another destination');
  });
  // A file QRV is sparse: it needs room for the snapshot's allocated blocks, less what an old
  // copy at the same path already holds.
  const needed = await allocatedBytes(snapshot.path, snapshot.sizeBytes);
  const reusable = st ? st.blocks * 512 : 0;
  const free = fsStat.bavail * fsStat.bsize + reusable;
  if (free < needed) throw tooSmall(to, free, needed);
  return { path: real, kind: 'file', existing };
}

/**
 * The file a QRV of this volume gets in a folder: NAME.qrv.img, unless that is a volume now (a
 * QRV promoted to be the primary keeps its name): then NAME.qrv-2.img, -3, and so on.
 */
async function freeName(data: CatalogData, folder: string, name: string): Promise<string> {
  const taken = new Set<string>();
  for (const v of data.volumes) taken.add(await realOrResolved(v.path));
  for (const q of data.qrvs) if (q.state === 'promoted') taken.add(await realOrResolved(q.destination));
  for (let n = 1; ; n++) {
    const candidate = path.join(folder, n === 1 ? `${name}.qrv.img` : `${name}.qrv-${n}.img`);
    if (!taken.has(await realOrResolved(candidate))) return candidate;
  }
}

async function allocatedBytes(file: string, fallback: number): Promise<number> {
  const st = await fs.stat(file).catch(() => null);
  if (!st || !st.isFile()) return fallback;
  return Math.min(st.size, st.blocks * 512);
}

function tooSmall(to: string, has: number, needs: number): QrvError {
  return new QrvError('refused', 'destination-too-small', `destination ${to} has room for ${formatBytes(has)} but the QRV needs ${formatBytes(needs)}`, 'free space there or choose a larger destination; nothing was written');
}

/**
 * A destination as policies and --to give it: a path, or "pool:NAME", for which the pool's best
 * fit is picked (on a copy of the data: the copy phase reserves it in the transaction that
 * records the QRV). A pool member is qrv's own to overwrite.
 */
export async function resolveTarget(data: CatalogData, volume: Volume, source: CopySource, to: string, force: boolean, qrvId: string): Promise<Destination & { pool: string | null }> {
  if (!to.startsWith('pool:')) return { ...(await resolveDestination(data, volume, source, to, force)), pool: null };
  const pool = to.slice('pool:'.length);
  const member = reserveMember(structuredClone(data), pool, volume.name, source.sizeBytes, qrvId);
  return { ...(await resolveDestination(data, volume, source, member.path, true, true)), pool };
}
