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

// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
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
  const data = await ctx.catalog.read();
  const snapshotId = newId('s', idTaken(data));
  const env = { jobId: job.id, volume: volume.name, device: volume.path, snapshotId };

  const row: Snapshot = {
    id: snapshotId,
    volume: volume.name,
    subclient: options.subclient ?? null,
    provider: provider.name,
    handle: '',
    path: '',
    createdAt: '',
    persistUntil: null,
    label: options.label,
    pinned: false,
    state: 'creating',
    sizeBytes: facts.sizeBytes,
    groupId: options.groupId ?? newId('g'),
    method: '',
    quiesce: 'none',
    consistency: 'unknown',
    copyRate: null,
    suspendedMs: 0,
    objects: [],
    jobId: job.id,
    removedAt: null,
    policy: options.policy ?? null,
    copiedTo: null,
  };
  const pair = {
    phase: 'snapshot' as const,
    pre: 'pre-snapshot' as const,
    post: 'post-snapshot' as const,
    hooks: options.hooks,
    timeoutMs: options.hookTimeoutMs,
  };
  const maxFreezeMs = options.maxFreezeMs ?? guardDeadlineMs();
  await withHookPair(
    ctx,
    job,
    pair,
    () => ({ ...env, ...(row.path ? { snapshotPath: row.path } : {}) }),
    // eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
    async () => {
      // A store unsafe to write, or a copy that would outlast --max-freeze, is refused before
      // anything is written or frozen.
      await provider.checkSnapshot?.(ref);
      await checkFreezeBudget(provider, ref, volume, facts.kind, await ctx.catalog.read(), maxFreezeMs);
      // The point in time is when the snapshot is taken, after the pre-snapshot hook.
      const createdAt = ctx.now();
      row.createdAt = createdAt.toISOString();
      row.persistUntil = untilFrom(createdAt, options.persistMs);
      job.set({ snapshotId });
      await checkFreezeTool(volume, facts.kind);
      // From here on the system changes: the catalog knows a snapshot is being made before it is.
      await job.begin((catalog) => {
        catalog.snapshots.push(plainCopy(row));
        const known = catalog.volumes.find((v) => v.name === volume.name);
        if (known) known.sizeBytes = facts.sizeBytes;
      });

      // What the provider can make before the freeze (dm: the COW store), so the window holds only the switch.
      let prepared: PreparedSnapshot | undefined;
      if (provider.prepareSnapshot) {
        const prepare = provider.prepareSnapshot.bind(provider);
        try {
          prepared = await job.step(
            'snapshot',
            'prepare snapshot',
            () => prepare(ref, snapshotId),
            () => 'made what the snapshot needs before the freeze',
          );
        } catch (error) {
          row.state = 'failed';
          await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
          throw error;
        }
      }

      let quiesce: AtRest;
      // From the freeze to the thaw, steps are kept in memory and written after (no fsync'ed
      // catalog write inside the freeze window).
      job.hold();
      try {
        quiesce = await job.step(
          'snapshot',
          'bring to rest',
          () => bringToRest(volume, facts.kind, maxFreezeMs, options.groupFreeze),
          (q) =>
            q.freeze
              ? frozeLine(q.freeze)
              : q.method === 'dm-suspend'
                ? `flushed ${volume.path}; the provider's device suspend freezes its filesystem while the snapshot is taken`
                : 'nothing to quiesce (no writer, not frozen)',
        );
      } catch (error) {
        // Nothing is frozen (a failed freeze thaws what it froze) and no snapshot was taken.
        await prepared?.discard().catch(() => undefined);
        await job.release();
        row.state = 'failed';
        await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
        throw error;
      }
      if (quiesce.warning) await job.warn(quiesce.warning);
      row.quiesce = quiesce.method;

      let handedOver = false;
      let warning: string | undefined;
      try {
        await failpoint('after-freeze');
        assertStillFrozen(quiesce.freeze, 'before the snapshot was taken');
        handedOver = true; // from here on, createSnapshot owns what was prepared (and undoes it on failure)
        const made = await job.step(
          'snapshot',
          'take snapshot',
          () => takeSnapshot(ref, snapshotId, quiesce, prepared, options.allowInconsistent ?? false),
          (m) =>
            `${snapshotId} by ${m.method} in ${m.suspendedMs.toFixed(2)} ms${row.quiesce === 'none' ? ' (nothing frozen: the time the clone took)' : ''}`,
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
        warning = made.warning;
        await failpoint('after-snapshot');
      } catch (error) {
        row.state = 'failed';
        if (!handedOver) await prepared?.discard().catch(() => undefined);
        const held = quiesce.freeze?.held() ?? true;
        await quiesce.freeze?.thaw().catch(() => undefined);
        if (quiesce.freeze) row.suspendedMs = windowMs(quiesce.freeze, held); // the real window, also of a failed snapshot
        await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
        throw error;
      } finally {
        // Always, even when the snapshot failed: a frozen filesystem blocks every writer.
        await job
          .step(
            'snapshot',
            'resume I/O',
            async () => {
              const held = quiesce.freeze?.held() ?? true;
              await quiesce.freeze?.thaw();
              if (quiesce.freeze) row.suspendedMs = windowMs(quiesce.freeze, held);
            },
            () =>
              quiesce.freeze
                ? `${quiesce.freeze.mountpoints.length ? `thawed ${quiesce.freeze.mountpoints.join(', ')}` : 'nothing to thaw'}: I/O was suspended ${row.suspendedMs.toFixed(2)} ms`
                : 'nothing was suspended beyond the snapshot itself',
          )
          .finally(() => job.release());
      }
      if (warning) await job.warn(warning);
      // Indexed as soon as it exists (before the post-snapshot hook), so no hook can leave it unknown.
      await job.step(
        'snapshot',
        'index',
        () => job.commit((catalog) => replaceSnapshot(catalog.snapshots, row)),
        () => `persists ${row.persistUntil ? `until ${row.persistUntil}` : 'until removed'}`,
      );
    },
  );
  return plainCopy(row);
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
