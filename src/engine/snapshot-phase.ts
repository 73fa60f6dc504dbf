// F1 + F2: pre-snapshot hook → bring to rest → snapshot → resume I/O (always) → post-snapshot
// hook → index. The time between "I/O suspended" and "I/O resumed" is measured and stored.
import { plainCopy, positionsWhere } from '../catalog/tracked.ts';
import { open } from 'node:fs/promises';
import os from 'node:os';
import type { Snapshot, Volume } from '../catalog/schema.ts';
import { untilFrom } from '../core/duration.ts';
import { newId } from '../core/ids.ts';
import { type PreparedSnapshot, type SnapshotMade, type VolumeRef, volumeRef } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import { failpoint } from '../core/failpoints.ts';
import { blockFreezeNests, freezeWithGuard, guardDeadlineMs, mountpointsOf, type Freeze } from '../system/freeze.ts';
import {
  assertStillFrozen,
  checkFreezeBudget,
  consistencyOf,
  freezeOverrun,
  freezeTargets,
  windowMs,
} from './freeze-bound.ts';
import { requireTool, tool } from '../system/tools.ts';
import type { GroupFreeze } from './group-freeze.ts';
import type { Context } from './context.ts';
import type { Hooks } from '../policy/hooks.ts';
import { withHookPair } from './hook-pair.ts';
import type { JobRecorder } from './job-recorder.ts';
import { idTaken } from '../catalog/lookup.ts';

export interface SnapshotOptions {
  persistMs: number | null;
  label: string | null;
  hooks: Hooks;
  hookTimeoutMs: number;
  groupId?: string;
  subclient?: string | null;
  policy?: string | null;
  /** the group's one freeze window, when the volume is snapshotted with others (run, cron) */
  groupFreeze?: GroupFreeze;
  /** the longest a filesystem may stay frozen (--max-freeze); default: the guard's deadline */
  maxFreezeMs?: number;
  /** keep a copy of an image written to meanwhile, as crash-torn (--allow-inconsistent) */
  allowInconsistent?: boolean;
}

/** fdatasync of a file; a failure only costs time in the freeze window, so it is ignored. */
async function flushFile(file: string): Promise<void> {
  const handle = await open(file, 'r').catch(() => null);
  await handle?.datasync().catch(() => undefined);
  await handle?.close().catch(() => undefined);
}

interface AtRest {
  method: string;
  warning?: string;
  /** the frozen filesystems, with the moment the freeze began */
  freeze?: Freeze;
}

/**
 * Brings the data to rest: a mounted filesystem on the volume (for a file image: on a loop
 * device it backs) is frozen (FIFREEZE, under a guard that thaws it if qrv dies or hangs); a
 * volume with no writer needs nothing; an image attached to a loop device that is not mounted
 * cannot be frozen. A provider that freezes by itself (lvm) only has the filesystem flushed,
 * except in a group on a kernel whose device suspend nests inside a freeze (Linux 6.8).
 */
async function bringToRest(
  volume: Volume,
  kind: 'file' | 'block',
  maxFreezeMs: number,
  group?: GroupFreeze,
): Promise<AtRest> {
  const provider = getProvider(volume.provider);
  if (provider.quiesce === 'provider' && !(group && blockFreezeNests())) {
    // A mounted LV is frozen by the kernel itself while lvcreate suspends its device (dm
    // suspend with lockfs); before Linux 6.8 a FIFREEZE of ours makes that suspend fail (EBUSY,
    // measured on Debian 12's 6.1 kernel), so it is only flushed first. In a group, the LV is
    // then snapshotted inside the group's window but under its own suspend: the group is not
    // held frozen across the other members' snapshots. From 6.8 the suspend's freeze nests inside
    // ours, and an LV in a group joins the group's freeze below like any other volume.
    const mounted = await mountpointsOf([volume.path]);
    for (const point of mounted) await tool('sync', ['-f', point]).catch(() => undefined);
    if (group) void (await group.join([])).thaw().catch(() => undefined);
    const perVolume =
      group && mounted.length
        ? `${volume.name} (${volume.provider}) is snapshotted under its own device suspend, not held frozen for the whole group: this kernel (${os.release()}) cannot nest a device suspend inside a freeze (Linux 6.8 can), so the group is consistent per volume; for one point in time across volumes, quiesce the application in a pre-snapshot hook`
        : undefined;
    return { method: mounted.length ? 'dm-suspend' : 'none', ...(perVolume ? { warning: perVolume } : {}) };
  }
  const file = kind === 'file';
  const { loops, mountpoints } = await freezeTargets(volume, kind);
  const unmounted =
    loops.length && mountpoints.length === 0
      ? `${volume.path} is attached to ${loops.join(', ')}, which is not mounted, so there is no filesystem to freeze: writes to the device while the clone runs may be torn in the snapshot; stop its writer from a pre-snapshot hook`
      : undefined;
  if (mountpoints.length) {
    // Write out what is dirty first, outside the freeze window: the filesystem (syncfs), then the
    // loop device's writes into the image, so the freeze and the clone have little left to flush.
    for (const point of mountpoints) await tool('sync', ['-f', point]).catch(() => undefined);
    if (file) await flushFile(volume.path);
  }
  if (group) {
    // Every member joins, also one with nothing to freeze, so the group's window holds them all.
    const joined = await group.join(mountpoints, maxFreezeMs);
    if (mountpoints.length === 0) {
      void joined.thaw().catch(() => undefined);
      return { method: 'none', ...(unmounted ? { warning: unmounted } : {}) };
    }
    return { method: 'fsfreeze', freeze: joined, ...alreadyFrozenWarning(joined) };
  }
  if (mountpoints.length === 0) return { method: 'none', ...(unmounted ? { warning: unmounted } : {}) };
  const freeze = await freezeWithGuard(mountpoints, maxFreezeMs);
  return { method: 'fsfreeze', freeze, ...alreadyFrozenWarning(freeze) };
}

/** A volume that will be frozen needs fsfreeze: checked before the first write, so a missing one changes nothing. */
async function checkFreezeTool(volume: Volume, kind: 'file' | 'block'): Promise<void> {
  if (getProvider(volume.provider).quiesce === 'provider') return;
  if ((await freezeTargets(volume, kind)).mountpoints.length) await requireTool('fsfreeze');
}

function alreadyFrozenWarning(freeze: Freeze): { warning?: string } {
  return freeze.alreadyFrozen.length
    ? {
        warning: `${freeze.alreadyFrozen.join(', ')} was frozen already (by a pre-snapshot hook?): the snapshot is taken as it is, and thawing it is left to whoever froze it (a post-snapshot hook)`,
      }
    : {};
}

function frozeLine(freeze: Freeze): string {
  const parts = [];
  if (freeze.mountpoints.length)
    parts.push(
      `froze ${freeze.mountpoints.join(', ')} (a guard thaws within ${freeze.limitMs / 1000} s, the --max-freeze limit, if qrv dies or hangs)`,
    );
  if (freeze.alreadyFrozen.length) parts.push(`${freeze.alreadyFrozen.join(', ')} frozen already`);
  return parts.join('; ');
}

export async function snapshotPhase(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  options: SnapshotOptions,
): Promise<Snapshot> {
  const provider = getProvider(volume.provider);
  const ref = volumeRef(volume);
  const facts = await job.step(
    'snapshot',
    'check volume',
    () => provider.inspect(ref),
    (f) => `${f.sizeBytes} bytes`,
  );
  const snapshotId = newId('s', idTaken(await ctx.catalog.read()));
  const row = newRow(snapshotId, volume, options, {
    provider: provider.name,
    sizeBytes: facts.sizeBytes,
    jobId: job.id,
  });
  const env = { jobId: job.id, volume: volume.name, device: volume.path, snapshotId };
  const pair = {
    phase: 'snapshot' as const,
    pre: 'pre-snapshot' as const,
    post: 'post-snapshot' as const,
    hooks: options.hooks,
    timeoutMs: options.hookTimeoutMs,
  };
  const taking: Taking = {
    ctx,
    job,
    volume,
    ref,
    kind: facts.kind,
    row,
    options,
    maxFreezeMs: options.maxFreezeMs ?? guardDeadlineMs(),
  };
  await withHookPair(
    ctx,
    job,
    pair,
    () => ({ ...env, ...(row.path ? { snapshotPath: row.path } : {}) }),
    () => take(taking),
  );
  return plainCopy(row);
}

/** What one snapshot's steps share; `row` is filled in as they go. */
interface Taking {
  ctx: Context;
  job: JobRecorder;
  volume: Volume;
  ref: VolumeRef;
  kind: 'file' | 'block';
  row: Snapshot;
  options: SnapshotOptions;
  maxFreezeMs: number;
}

function newRow(
  id: string,
  volume: Volume,
  options: SnapshotOptions,
  from: { provider: string; sizeBytes: number; jobId: string },
): Snapshot {
  return {
    id,
    volume: volume.name,
    subclient: options.subclient ?? null,
    provider: from.provider,
    handle: '',
    path: '',
    createdAt: '',
    persistUntil: null,
    label: options.label,
    pinned: false,
    state: 'creating',
    sizeBytes: from.sizeBytes,
    groupId: options.groupId ?? newId('g'),
    method: '',
    quiesce: 'none',
    consistency: 'unknown',
    copyRate: null,
    suspendedMs: 0,
    objects: [],
    jobId: from.jobId,
    removedAt: null,
    policy: options.policy ?? null,
    copiedTo: null,
  };
}

/**
 * Between the hooks: check, record that a snapshot is being made, prepare, then freeze → snapshot
 * → thaw, then index. A failure after the row is recorded leaves it recorded as failed.
 */
async function take(t: Taking): Promise<void> {
  await begin(t);
  try {
    const prepared = await prepare(t);
    const warning = await inFreezeWindow(t, prepared);
    if (warning) await t.job.warn(warning);
  } catch (error) {
    // Failed before it existed, or made and then failed (a failpoint): recorded as failed. A thaw
    // that failed after a snapshot that was made leaves the row as it is for doctor.
    if (t.row.state !== 'ready') {
      t.row.state = 'failed';
      await t.job.commit((catalog) => replaceSnapshot(catalog.snapshots, t.row));
    }
    throw error;
  }
  // Indexed as soon as it exists (before the post-snapshot hook), so no hook can leave it unknown.
  await t.job.step(
    'snapshot',
    'index',
    () => t.job.commit((catalog) => replaceSnapshot(catalog.snapshots, t.row)),
    () => `persists ${t.row.persistUntil ? `until ${t.row.persistUntil}` : 'until removed'}`,
  );
}

/** Refuses what would be unsafe before anything is written or frozen, then records the row as being made. */
async function begin(t: Taking): Promise<void> {
  const { ctx, job, volume, ref, row, kind } = t;
  const provider = getProvider(volume.provider);
  // A store unsafe to write, or a copy that would outlast --max-freeze, is refused before
  // anything is written or frozen.
  await provider.checkSnapshot?.(ref);
  await checkFreezeBudget(provider, ref, volume, kind, await ctx.catalog.read(), t.maxFreezeMs);
  // The point in time is when the snapshot is taken, after the pre-snapshot hook.
  const createdAt = ctx.now();
  row.createdAt = createdAt.toISOString();
  row.persistUntil = untilFrom(createdAt, t.options.persistMs);
  job.set({ snapshotId: row.id });
  await checkFreezeTool(volume, kind);
  // From here on the system changes: the catalog knows a snapshot is being made before it is.
  await job.begin((catalog) => {
    catalog.snapshots.push(plainCopy(row));
    const known = catalog.volumes.find((v) => v.name === volume.name);
    if (known) known.sizeBytes = row.sizeBytes;
  });
}

/** What the provider can make before the freeze (dm: the COW store), so the window holds only the switch. */
async function prepare(t: Taking): Promise<PreparedSnapshot | undefined> {
  const provider = getProvider(t.volume.provider);
  if (!provider.prepareSnapshot) return undefined;
  const prepareSnapshot = provider.prepareSnapshot.bind(provider);
  return t.job.step(
    'snapshot',
    'prepare snapshot',
    () => prepareSnapshot(t.ref, t.row.id),
    () => 'made what the snapshot needs before the freeze',
  );
}

/**
 * The freeze window: bring to rest → snapshot, and in one `finally` the thaw (whatever happened,
 * a frozen filesystem blocks every writer). From the freeze to the thaw, steps are kept in memory
 * and written after (no fsync'ed catalog write inside the window). Returns the provider's warning.
 */
async function inFreezeWindow(t: Taking, prepared: PreparedSnapshot | undefined): Promise<string | undefined> {
  const { job, row } = t;
  let quiesce: AtRest | undefined;
  let handedOver = false;
  job.hold();
  try {
    quiesce = await bringToRestStep(t);
    if (quiesce.warning) await job.warn(quiesce.warning);
    row.quiesce = quiesce.method;
    await failpoint('after-freeze');
    assertStillFrozen(quiesce.freeze, 'before the snapshot was taken');
    handedOver = true; // from here on, createSnapshot owns what was prepared (and undoes it on failure)
    const made = await takeSnapshotStep(t, quiesce, prepared);
    await failpoint('after-snapshot');
    return made.warning;
  } catch (error) {
    row.state = 'failed';
    if (!handedOver) await prepared?.discard().catch(() => undefined);
    throw error;
  } finally {
    // A failed freeze thawed what it froze itself: then there is nothing to resume.
    if (quiesce) await resumeIoStep(t, quiesce.freeze).finally(() => job.release());
    else await job.release();
  }
}

async function bringToRestStep(t: Taking): Promise<AtRest> {
  const { volume } = t;
  return t.job.step(
    'snapshot',
    'bring to rest',
    () => bringToRest(volume, t.kind, t.maxFreezeMs, t.options.groupFreeze),
    (q) =>
      q.freeze
        ? frozeLine(q.freeze)
        : q.method === 'dm-suspend'
          ? `flushed ${volume.path}; the provider's device suspend freezes its filesystem while the snapshot is taken`
          : 'nothing to quiesce (no writer, not frozen)',
  );
}

/** Takes the snapshot and fills the row in from what was made. */
async function takeSnapshotStep(
  t: Taking,
  quiesce: AtRest,
  prepared: PreparedSnapshot | undefined,
): Promise<SnapshotMade> {
  const { row } = t;
  const made = await t.job.step(
    'snapshot',
    'take snapshot',
    () => takeSnapshot(t.ref, row.id, quiesce, prepared, t.options.allowInconsistent ?? false),
    (m) =>
      `${row.id} by ${m.method} in ${m.suspendedMs.toFixed(2)} ms${row.quiesce === 'none' ? ' (nothing frozen: the time the clone took)' : ''}`,
  );
  const frozen =
    (quiesce.freeze?.mountpoints.length ?? 0) + (quiesce.freeze?.alreadyFrozen.length ?? 0) > 0 ||
    quiesce.method === 'dm-suspend';
  Object.assign(row, {
    handle: made.handle,
    path: made.path,
    sizeBytes: made.sizeBytes,
    method: made.method,
    suspendedMs: made.suspendedMs,
    consistency: consistencyOf(made, frozen),
    copyRate: made.copyRate ?? null,
    state: 'ready' as const,
  });
  return made;
}

/** Thaws (always safe to repeat) and records the real window, also of a failed snapshot. */
async function resumeIoStep(t: Taking, freeze: Freeze | undefined): Promise<void> {
  const { row } = t;
  await t.job.step(
    'snapshot',
    'resume I/O',
    async () => {
      const held = freeze?.held() ?? true;
      await freeze?.thaw();
      if (freeze) row.suspendedMs = windowMs(freeze, held);
    },
    () =>
      freeze
        ? `${freeze.mountpoints.length ? `thawed ${freeze.mountpoints.join(', ')}` : 'nothing to thaw'}: I/O was suspended ${row.suspendedMs.toFixed(2)} ms`
        : 'nothing was suspended beyond the snapshot itself',
  );
}

/**
 * Takes the snapshot inside the freeze, and discards it if the freeze did not hold to the end (the
 * guard thawed at --max-freeze meanwhile): such a snapshot is of a live filesystem.
 */
async function takeSnapshot(
  ref: VolumeRef,
  snapshotId: string,
  quiesce: AtRest,
  prepared: PreparedSnapshot | undefined,
  allowInconsistent: boolean,
): Promise<SnapshotMade> {
  const provider = getProvider(ref.provider);
  const freeze = quiesce.freeze;
  const lapsed = () => freeze !== undefined && freeze.mountpoints.length > 0 && !freeze.held();
  const made = await provider
    .createSnapshot(ref, snapshotId, {
      frozen: (freeze?.mountpoints.length ?? 0) > 0,
      allowInconsistent,
      ...(prepared ? { prepared } : {}),
    })
    .catch((error: unknown) => {
      // A copy torn because the guard thawed at the limit meanwhile: the limit is the real reason.
      throw freeze && lapsed() ? freezeOverrun(freeze, 'while the snapshot was taken') : error;
    });
  if (freeze && lapsed()) {
    await provider.removeSnapshot(ref, made.handle).catch(() => undefined);
    throw freezeOverrun(freeze, 'while the snapshot was taken');
  }
  return made;
}

export function replaceSnapshot(rows: Snapshot[], row: Snapshot): void {
  const [at] = positionsWhere(rows, (r) => r.id === row.id);
  if (at !== undefined) rows[at] = plainCopy(row);
  else rows.push(plainCopy(row));
}
