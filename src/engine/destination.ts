// Where a QRV goes, checked before any byte moves: never the volume or a snapshot itself, nothing
// else of qrv's (protected.ts: another volume, a snapshot, another volume's QRV, a ledger, a pool
// member outside its pool, the home), never a file that is not a QRV unless --force, never a
// mounted device, and never a place too small to hold it. What was checked is remembered
// (`planned`): the copy opens exactly that, later, without following a symlink (openPlanned).
import { plainCopy } from '../catalog/tracked.ts';
import type { Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Qrv, Volume } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { openPlanned, type PlannedDestination } from '../copy/endpoints.ts';
import { blockDeviceSize, mountedDevices } from '../system/block-device.ts';
import { jobAlive } from './job-recorder.ts';
import { reserveMember } from '../pools/reserve.ts';
import { holdersOf, refuseProtected, sameThing, type Allowed } from './protected.ts';

export interface Destination {
  path: string;
  kind: 'file' | 'block';
  /** the QRV already kept at this path for this volume, which the copy updates */
  existing: Qrv | null;
  /**
   * What was at `path` when it was checked; the copy opens it without following a symlink and
   * insists on the same file or device (`openPlanned`). null: no file yet, the copy creates it
   * (O_CREAT|O_EXCL|O_NOFOLLOW).
   */
  planned: Stats | null;
}

async function realOrResolved(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/** What a copy is from: a snapshot, or (for a check before the snapshot exists) the volume itself. */
export interface CopySource {
  path: string;
  sizeBytes: number;
}

const lstatOrNull = (p: string): Promise<Stats | null> => fs.lstat(p).catch(() => null);

/** Where a named symlink leads: the file, or where a link to nothing yet will have it made. */
async function linkTarget(named: string): Promise<string> {
  const real = await fs.realpath(named).catch(() => null);
  if (real) return real;
  const pointed = path.resolve(path.dirname(named), await fs.readlink(named));
  return path.join(await realOrResolved(path.dirname(pointed)), path.basename(pointed));
}

/**
 * The path the admin named, with a symlink they named resolved once, here (its folder is trusted
 * too), and what is there now (lstat: a symlink at the resolved name is never followed later).
 */
export async function namedTarget(to: string): Promise<{ target: string; st: Stats | null }> {
  const named = path.resolve(to);
  const link = await lstatOrNull(named);
  const target = link?.isSymbolicLink()
    ? await linkTarget(named)
    : path.join(await realOrResolved(path.dirname(named)), path.basename(named));
  return { target, st: await lstatOrNull(target) };
}

/** namedTarget, where a folder becomes the QRV file in it, whose name is never followed if it is a symlink. */
async function plannedPath(
  data: CatalogData,
  volume: Volume,
  to: string,
): Promise<{ target: string; st: Stats | null }> {
  let { target, st } = await namedTarget(to);
  if (st?.isDirectory()) {
    // A folder: the QRV is a file in it, named after the volume (one QRV per volume per folder).
    const kept = data.qrvs.find(
      (q) =>
        q.volume === volume.name &&
        q.state !== 'removed' &&
        q.state !== 'promoted' &&
        path.dirname(q.destination) === target,
    );
    target = kept ? kept.destination : await freeName(data, target, volume.name);
    st = await lstatOrNull(target);
    if (st?.isSymbolicLink())
      throw new QrvError(
        'refused',
        'destination-kind',
        `destination ${target} is a symlink, which qrv did not make and does not follow`,
        'remove it, or name the file it points to with --to',
      );
  }
  return { target, st };
}

/** A copy's destination as asked: for `volume`'s copy of `source`, at `to` (with --force). */
export interface DestinationAsk {
  volume: Volume;
  source: CopySource;
  to: string;
  force: boolean;
  /** `to` is a member of a pool, qrv's own to overwrite */
  viaPool?: boolean;
}

/** Where a copy may go, refused with the reason when it may not (nothing is written). */
export async function resolveDestination(data: CatalogData, home: string, ask: DestinationAsk): Promise<Destination> {
  const { target: real, st } = await plannedPath(data, ask.volume, ask.to);
  const existing = await ownQrvThere(data, home, ask, { real, st });
  if (st?.isBlockDevice()) return blockDestination(ask, real, st, existing);
  if (st && !st.isFile())
    throw new QrvError(
      'refused',
      'destination-kind',
      `destination ${ask.to} is neither a file nor a block device`,
      'give an image file path, a folder or a block device',
    );
  if (st && !existing && !ask.force)
    throw new QrvError(
      'refused',
      'destination-exists',
      `destination ${ask.to} exists and is not a QRV of "${ask.volume.name}"`,
      'add --force to overwrite it, or choose a new path',
    );
  await checkRoom(ask, real, st);
  return { path: real, kind: 'file', existing, planned: st };
}

/**
 * What holds the planned path: refused when it is the volume or snapshot being copied, anything
 * of qrv's but this volume's QRV (or the pool's member), or a QRV another job is copying; else
 * this volume's QRV there, if one is.
 */
async function ownQrvThere(
  data: CatalogData,
  home: string,
  ask: DestinationAsk,
  planned: { real: string; st: Stats | null },
): Promise<Qrv | null> {
  const { volume, to } = ask;
  const holders = await holdersOf(data, home, planned.real, planned.st);
  // The volume or snapshot being copied: said as such.
  const isVolume = holders.some((h) => h.kind === 'volume' && h.volume === volume.name && !h.under);
  if (isVolume || (await sameAs(planned.real, planned.st, ask.source.path))) {
    throw new QrvError(
      'refused',
      'destination-is-source',
      `destination ${to} is the ${isVolume ? 'volume' : 'snapshot'} itself`,
      'choose a destination on another disk',
    );
  }
  refuseProtected(holders, 'destination', to, { qrvOf: volume.name, poolMember: ask.viaPool ?? false });
  const existing =
    holders
      .map((h) => (h.kind === 'qrv' ? h.qrv : null))
      .find((q): q is Qrv => q !== null && q.volume === volume.name) ?? null;
  if (existing?.state === 'copying' && data.jobs.some((job) => job.qrvId === existing.id && jobAlive(job))) {
    throw new QrvError(
      'busy',
      'destination-busy',
      `QRV ${existing.id} at ${to} is being copied by another job`,
      'wait for that job, or see it with `qrv list`',
    );
  }
  return existing;
}

/** A block device: not mounted, large enough, and a QRV already or overwritten with --force. */
async function blockDestination(
  ask: DestinationAsk,
  real: string,
  st: Stats,
  existing: Qrv | null,
): Promise<Destination> {
  const { to } = ask;
  if ((await mountedDevices()).has(real))
    throw new QrvError(
      'refused',
      'destination-mounted',
      `destination ${to} is mounted`,
      'unmount it first; a QRV overwrites the whole device',
    );
  const size = await blockDeviceSize(real);
  if (size < ask.source.sizeBytes) throw tooSmall(to, size, ask.source.sizeBytes);
  if (!existing && !ask.force)
    throw new QrvError(
      'refused',
      'destination-exists',
      `destination ${to} is a device that holds no QRV yet`,
      'add --force to overwrite the whole device',
    );
  return { path: real, kind: 'block', existing, planned: st };
}

/**
 * A file QRV is sparse: it needs room for the snapshot's allocated blocks, less what an old copy
 * at the same path already holds.
 */
async function checkRoom(ask: DestinationAsk, real: string, st: Stats | null): Promise<void> {
  const dir = path.dirname(real);
  const fsStat = await fs.statfs(dir).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError(
      'refused',
      'destination-folder',
      `cannot use folder ${dir} for the destination (${error.code ?? error.message})`,
      'create the folder first or choose another destination',
    );
  });
  const needed = await allocatedBytes(ask.source.path, ask.source.sizeBytes);
  const reusable = st ? st.blocks * 512 : 0;
  const free = fsStat.bavail * fsStat.bsize + reusable;
  if (free < needed) throw tooSmall(ask.to, free, needed);
}

/** Whether `target` (with its stats, when it exists) is `other`. */
async function sameAs(target: string, st: Stats | null, other: string): Promise<boolean> {
  const o = st ? await fs.stat(other).catch(() => null) : null;
  return st && o ? sameThing(st, o) : (await realOrResolved(other)) === target;
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
  return new QrvError(
    'refused',
    'destination-too-small',
    `destination ${to} has room for ${formatBytes(has)} but the QRV needs ${formatBytes(needs)}`,
    'free space there or choose a larger destination; nothing was written',
  );
}

/**
 * A destination as policies and --to give it: a path, or "pool:NAME", for which the pool's best
 * fit is picked (on a copy of the data: the copy phase reserves it in the transaction that
 * records the QRV). A pool member is qrv's own to overwrite.
 */
export async function resolveTarget(
  data: CatalogData,
  home: string,
  ask: DestinationAsk & { qrvId: string },
): Promise<Destination & { pool: string | null }> {
  const { volume, source, to, force } = ask;
  if (!to.startsWith('pool:'))
    return { ...(await resolveDestination(data, home, { volume, source, to, force })), pool: null };
  const pool = to.slice('pool:'.length);
  const member = reserveMember(plainCopy(data), pool, volume.name, source.sizeBytes, ask.qrvId);
  return {
    ...(await resolveDestination(data, home, { volume, source, to: member.path, force: true, viaPool: true })),
    pool,
  };
}

/**
 * Opens a destination (or a recovery's target) once, as it was planned (openPlanned: no symlink
 * followed, the same file or device, a new file only where none is), and checks what was opened
 * again (fstat) against the catalog as it is now: still nothing of qrv's but what `allowed`
 * names (this volume's QRV, the pool's member; the volume itself for a recovery). Everything
 * after (copy, truncate, fsync, read back) works on the descriptor it returns.
 */
export async function openChecked(
  data: CatalogData,
  home: string,
  dest: PlannedDestination,
  what: 'destination' | 'target',
  allowed: Allowed,
): Promise<FileHandle> {
  const handle = await openPlanned(dest);
  try {
    const holders = await holdersOf(data, home, dest.path, await handle.stat());
    refuseProtected(holders, what, dest.path, allowed);
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
