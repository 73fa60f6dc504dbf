// F1 + F2: pre-snapshot hook → bring to rest → snapshot → resume I/O (always) → post-snapshot
// hook → index. The time between "I/O suspended" and "I/O resumed" is measured and stored.
import { plainCopy, positionsWhere } from '../catalog/tracked.ts';
import type { Snapshot, Volume } from '../catalog/schema.ts';
import { untilFrom } from '../core/duration.ts';
import { newId } from '../core/ids.ts';
import { type PreparedSnapshot, type SnapshotMade, type VolumeRef, volumeRef } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import { failpoint } from '../core/failpoints.ts';
import { guardDeadlineMs, type Freeze } from '../system/freeze.ts';
import { assertStillFrozen, checkFreezeBudget, consistencyOf, freezeOverrun, windowMs } from './freeze-bound.ts';
import type { GroupFreeze } from './group-freeze.ts';
import type { Context } from './context.ts';
import type { Hooks } from '../policy/hooks.ts';
import { withHookPair } from './hook-pair.ts';
import type { JobRecorder } from './job-recorder.ts';
import { idTaken } from '../catalog/lookup.ts';
import { refuseHalfRecovered } from './recovery-state.ts';
import { bringToRest, checkFreezeTool, frozeLine, type AtRest } from './bring-to-rest.ts';

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
    async () => {
      refuseHalfRecovered(await ctx.catalog.read(), volume);
      return provider.inspect(ref);
    },
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
  await checkFreezeBudget({ provider, ref, volume, kind }, await ctx.catalog.read(), t.maxFreezeMs);
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
