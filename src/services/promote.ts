// `qrv promote QRV [--force]` (F12): the fastest recovery — no byte is copied. The QRV becomes its
// volume's primary: the volume row moves to the QRV's image or device (an image: provider file;
// an LV: lvm at /dev/VG/LV; another device: taken over by dm), the old primary is recorded in
// `volume.retired` and left as it is, and the QRV row becomes `promoted`, which nothing ever
// writes, verifies, prunes or removes as a QRV again. Refused while the old primary is in use
// (the service still runs on it), while a job of the volume runs, and — for block-device
// providers — while snapshots live on the old primary's device.
import { plainCopy } from '../catalog/tracked.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Qrv, RetiredPrimary, Snapshot, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive, withJob, type JobRecorder } from '../engine/job-recorder.ts';
import { refuseWhileHydrating } from '../engine/recovery-state.ts';
import { findQrv, findVolume } from '../catalog/lookup.ts';
import { volumeRef, type VolumeRef } from '../providers/provider.ts';
import type { Summary } from '../output/printer.ts';
import { policyFor } from '../policy/resolve.ts';
import { getProvider } from '../providers/registry.ts';
import { describeUse, usesOf } from '../system/device-use.ts';
import { promoteTarget, type PromoteTarget } from './promote-target.ts';
import { migrate, migrateTarget } from './promote-migrate.ts';
import { chooseAt, choseLine } from './resolve.ts';
import { throttleOf } from './instant.ts';

export interface PromoteRequest {
  /** the QRV; with asOf, the volume whose newest QRV at that time is promoted */
  qrvId: string;
  asOf?: string;
  /** promote although the old primary still exists (its later writes stay only there) */
  force: boolean;
  /**
   * Instead of the QRV's own device or image: this device becomes the primary, reading the QRV at
   * once while the kernel copies it there (./promote-migrate.ts); the QRV stays a QRV.
   */
  migrateTo?: string;
  /** with migrateTo: wait for the copy (default), and its throttle */
  wait?: boolean;
  throttle?: string;
}

const LIVE = new Set(['ready', 'creating', 'removing']);

interface Switched {
  volume: Volume;
  qrv: Qrv;
  retired: RetiredPrimary;
  oldExists: boolean;
  leftPool: { pool: string; path: string } | null;
}

/** The QRV and its volume, if it can be promoted now; checked again inside the catalog transaction. */
function promotable(data: CatalogData, id: string): { qrv: Qrv; volume: Volume } {
  const qrv = findQrv(data, id);
  if (qrv.state === 'removed')
    throw new QrvError('refused', 'qrv-removed', `QRV ${id} was removed`, 'promote a ready QRV (`qrv list`)');
  if (qrv.state === 'promoted')
    throw new QrvError(
      'refused',
      'qrv-promoted',
      `QRV ${id} was promoted already (${qrv.updatedAt}): it became a primary of "${qrv.volume}"`,
      '`qrv volume list` shows where the volume is now',
    );
  if (qrv.state !== 'ready')
    throw new QrvError(
      'refused',
      'qrv-not-ready',
      `QRV ${id} is ${qrv.state}, not ready: its copy did not finish`,
      'promote a ready QRV, or finish its copy first (`qrv doctor`)',
    );
  if (qrv.lastVerify && !qrv.lastVerify.ok)
    throw new QrvError(
      'refused',
      'qrv-verify-failed',
      `QRV ${id} failed its last verify (${qrv.lastVerify.badBlocks} bad blocks at ${qrv.lastVerify.at})`,
      'promote another QRV, or update this one with a new copy and verify it',
    );
  const volume = findVolume(data, qrv.volume);
  refuseWhileHydrating(data, volume.name, `cannot promote QRV ${id}`);
  const busy = data.jobs.find((j) => jobAlive(j) && (j.volume === volume.name || j.qrvId === id));
  if (busy)
    throw new QrvError(
      'busy',
      'volume-busy',
      `job ${busy.id} (${busy.kind}) of volume "${volume.name}" is running (pid ${busy.pid})`,
      'wait for it to finish, then promote',
    );
  return { qrv, volume };
}

/** The new volume's provider options: what the old primary had, or the provider's defaults. */
function newOptions(volume: Volume, target: PromoteTarget, liveSnapshots: number): Record<string, string> {
  const provider = getProvider(target.provider);
  if (target.provider !== volume.provider) return provider.defaultOptions(target.path, volume.name);
  if (target.provider !== 'file') return { ...volume.options };
  // The snapshot store follows the image (same filesystem: reflinks), unless snapshots of the
  // old primary live in it or the admin chose it (--snapshot-dir).
  const chosen = volume.options.snapshotDir !== provider.defaultOptions(volume.path, volume.name).snapshotDir;
  return liveSnapshots || chosen
    ? { ...volume.options }
    : { ...volume.options, ...provider.defaultOptions(target.path, volume.name) };
}

/**
 * Providers that own a device (dm) give the old one back and take the new one over; returns
 * the volume as it is to be recorded and how to undo that if the catalog cannot be written.
 */
async function switchDevices(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  ref: VolumeRef,
): Promise<{ ref: VolumeRef; undo: () => Promise<void> }> {
  const oldProvider = getProvider(volume.provider);
  const newProvider = getProvider(ref.provider);
  if (!oldProvider.release && !newProvider.adopt) return { ref, undo: async () => undefined };
  const setup = { home: ctx.catalog.home };
  const readopt = async () => {
    if (oldProvider.release && oldProvider.adopt) await oldProvider.adopt(volumeRef(volume), setup);
  };
  return job.step(
    'promote',
    'take the device over',
    async () => {
      if (oldProvider.release) await oldProvider.release(volumeRef(volume));
      let adopted = ref;
      try {
        if (newProvider.adopt)
          adopted = await newProvider.adopt({ ...ref, options: { ...ref.options, device: ref.path } }, setup);
      } catch (error) {
        await readopt().catch(() => undefined);
        throw error;
      }
      const undo = async () => {
        if (newProvider.adopt && newProvider.release) await newProvider.release(adopted);
        await readopt();
      };
      return { ref: adopted, undo };
    },
    (r) =>
      `${oldProvider.release ? `gave ${volume.options.device ?? volume.path} back; ` : ''}${r.ref.path}${newProvider.adopt ? ` over ${ref.path}` : ''}`,
  );
}

/** Takes the QRV's member out of its pool (the data is a primary now, no longer the pool's). */
function leavePool(data: CatalogData, qrvId: string): { pool: string; path: string } | null {
  for (const pool of data.pools) {
    const member = pool.members.find((m) => m.qrvId === qrvId);
    if (!member) continue;
    pool.members = pool.members.filter((m) => m !== member);
    return { pool: pool.name, path: member.path };
  }
  return null;
}

/** A policy destination that now names the volume itself (its copies would be refused). */
function destinationClash(data: CatalogData, volume: Volume): string | null {
  const policy = policyFor(data, volume);
  if (!policy?.dest || policy.dest.startsWith('pool:')) return null;
  // A folder is fine: the next QRV there gets another name (resolveDestination).
  if (path.resolve(policy.dest) !== volume.path) return null;
  return `policy ${policy.name} copies to ${policy.dest}, which is now the volume itself: its copies are refused until it names another place (\`qrv policy set ${policy.name} --dest …\`)`;
}

export async function promote(ctx: Context, request: PromoteRequest): Promise<Summary> {
  throttleOf(request.throttle, request.wait !== false); // refused before anything moves
  const data = await ctx.catalog.read();
  // --as-of: the argument is a volume, and its newest QRV holding its state at that time is promoted.
  const chosen =
    request.asOf !== undefined
      ? chooseAt(data, findVolume(data, request.qrvId).name, request.asOf, ctx.now(), 'qrv')
      : null;
  const { qrv, volume } = promotable(data, chosen?.chosen.id ?? request.qrvId);
  const snapshot = data.snapshots.find((s) => s.id === qrv.snapshotId);
  const asOf = `${qrv.snapshotId}${snapshot ? ` (${snapshot.createdAt})` : ''}`;
  const live = data.snapshots.filter((s) => s.volume === volume.name && LIVE.has(s.state));
  const migrateTo = request.migrateTo ?? null;
  const { result, job } = await withJob(ctx, 'promote', volume.name, (job) =>
    promoteInJob({ ctx, job, qrv, volume, asOf, live, force: request.force, migrateTo }),
  );
  const others = data.qrvs
    .filter((q) => q.volume === volume.name && q.id !== qrv.id && q.state === 'ready')
    .map((q) => q.id);
  const lines = [
    ...(chosen ? [choseLine(chosen)] : []),
    `${migrateTo ? `moved volume ${volume.name} to ${migrateTo}, to hold QRV ${qrv.id}` : `promoted QRV ${qrv.id}`}: volume ${volume.name} is now ${result.volume.path} (${result.volume.provider}), as it was at ${asOf}`,
    `the old primary ${volume.path} (${volume.provider}) is retired: ${result.oldExists ? 'kept as it is; qrv no longer snapshots it' : 'it was gone'}`,
    ...(live.length
      ? [
          `${live.length} snapshot(s) of the old primary stay listed and readable (recover, ls): ${live.map((s) => s.id).join(', ')}`,
        ]
      : []),
    ...(others.length
      ? [
          `QRVs ${others.join(', ')} keep their earlier points in time; their next update compares against their ledgers`,
        ]
      : []),
    ...(result.leftPool
      ? [`member ${result.leftPool.path} left pool ${result.leftPool.pool}: it holds the primary now`]
      : []),
    `next: use ${result.volume.path} (mount it, start the service); \`qrv snap ${volume.name}\` and \`qrv run ${volume.name}\` protect it from now on`,
  ];
  const promoted = {
    data: { volume: result.volume, qrv: result.qrv, retired: result.retired, leftPool: result.leftPool, job },
    lines,
  };
  if (!migrateTo) return promoted;
  const wait = request.wait !== false;
  const throttle = request.throttle !== undefined ? { throttle: request.throttle } : {};
  return migrate(ctx, promoted, { volume: volume.name, qrv: qrv.id, wait, ...throttle });
}

/** One promotion inside its job: what it promotes, and the snapshots still live on the old primary. */
interface Promotion {
  ctx: Context;
  job: JobRecorder;
  qrv: Qrv;
  volume: Volume;
  /** the QRV's point in time, as said in lines */
  asOf: string;
  live: Snapshot[];
  force: boolean;
  /** the device the volume moves to (promote --migrate-to), or null: the QRV's own */
  migrateTo: string | null;
}

/**
 * Checks the QRV and the old primary, switches the devices over (a provider that adopts or
 * releases them), and records the switch; a failure before the record undoes the device switch.
 */
async function promoteInJob(p: Promotion): Promise<Switched> {
  const { ctx, job, qrv, volume, live } = p;
  job.set({ qrvId: qrv.id, snapshotId: qrv.snapshotId });
  const target = await job.step(
    'promote',
    'check QRV',
    () => (p.migrateTo ? migrateTarget(ctx, qrv, p.migrateTo) : promoteTarget(qrv, volume)),
    (t) =>
      `${qrv.id} at ${t.path} (${t.provider}), as of ${p.asOf}, ${qrv.lastVerify ? `verified ${qrv.lastVerify.at}` : 'never verified'}`,
  );
  job.set({ destination: target.path });
  if (live.length && !(volume.provider === 'file' && target.provider === 'file')) {
    throw new QrvError(
      'refused',
      'volume-has-snapshots',
      `volume "${volume.name}" still has ${live.length} snapshot(s) on its ${volume.provider} primary ${volume.path}: ${live.map((s) => s.id).join(', ')}; they cannot follow it to ${target.path}`,
      'remove them first with `qrv unsnap ID` (recover or copy from them before, if you need them), then promote',
    );
  }
  const oldExists = await checkOldPrimary(p);
  const wanted: VolumeRef = {
    name: volume.name,
    provider: target.provider,
    path: target.path,
    options: newOptions(volume, target, live.length),
  };
  const switched = await switchDevices(ctx, job, volume, wanted);
  try {
    return await recordSwitch(p, switched.ref, oldExists);
  } catch (error) {
    if (!job.isWritten)
      await switched
        .undo()
        .catch((undoError: Error) => job.warn(`the device switch could not be undone: ${undoError.message}`));
    throw error;
  }
}

/** The old primary: refused while in use, or while it exists without --force; whether it exists. */
function checkOldPrimary(p: Promotion): Promise<boolean> {
  const { job, volume, qrv } = p;
  return job.step(
    'promote',
    'check old primary',
    async () => {
      const uses = await usesOf(volume.path);
      if (uses.length)
        throw new QrvError(
          'refused',
          'volume-mounted',
          `the primary of "${volume.name}", ${volume.path}, is ${uses.map(describeUse).join(', ')}`,
          'stop what uses it and unmount it (detach the loop device) first: promoting switches the volume away from it',
        );
      const exists = await fs.stat(volume.path).then(
        () => true,
        () => false,
      );
      if (exists && !p.force)
        throw new QrvError(
          'refused',
          'primary-exists',
          `the primary of "${volume.name}", ${volume.path}, still exists; promoting ${qrv.id} makes the volume what it was at ${p.asOf}, and what was written to ${volume.path} since then stays only there`,
          'add --force to promote it anyway; the old primary is kept as it is and recorded as retired',
        );
      return exists;
    },
    (exists) => `${volume.path}: ${exists ? 'not in use; kept as it is' : 'gone'}`,
  );
}

/** The new primary inspected, then the volume switched to it in the catalog, the old one retired. */
async function recordSwitch(p: Promotion, ref: VolumeRef, oldExists: boolean): Promise<Switched> {
  const { ctx, job, qrv, volume } = p;
  const facts = await job.step(
    'promote',
    'check new primary',
    () => getProvider(ref.provider).inspect(ref),
    (f) => `${ref.path}: ${f.sizeBytes} bytes`,
  );
  const now = ctx.now().toISOString();
  const retired: RetiredPrimary = {
    path: volume.path,
    provider: volume.provider,
    options: volume.options,
    sizeBytes: volume.sizeBytes,
    retiredAt: now,
    promotedQrv: qrv.id,
    snapshotId: qrv.snapshotId,
    jobId: job.id,
  };
  const holder: { made?: Switched } = {};
  await job.step(
    'promote',
    'switch primary',
    () =>
      job.begin((catalog) => {
        const rows = promotable(catalog, qrv.id);
        if (rows.volume.path !== volume.path || rows.volume.provider !== volume.provider)
          throw new QrvError(
            'busy',
            'volume-busy',
            `volume "${volume.name}" changed while it was being promoted`,
            'run the command again',
          );
        rows.volume.retired = [...(rows.volume.retired ?? []), retired];
        Object.assign(rows.volume, {
          provider: ref.provider,
          path: ref.path,
          options: ref.options,
          sizeBytes: facts.sizeBytes,
        });
        // migrated: the QRV's data is copied to the new device and the QRV stays what it was
        if (!p.migrateTo) Object.assign(rows.qrv, { state: 'promoted', updatedAt: now });
        holder.made = {
          volume: plainCopy(rows.volume),
          qrv: plainCopy(rows.qrv),
          retired,
          oldExists,
          leftPool: p.migrateTo ? null : leavePool(catalog, qrv.id),
        };
        const clash = destinationClash(catalog, rows.volume);
        if (clash) void job.warn(clash);
      }),
    () => `${volume.name}: ${volume.path} -> ${ref.path}`,
  );
  return holder.made as Switched;
}
