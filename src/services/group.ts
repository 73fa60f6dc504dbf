// The phases for a set of volumes, shared by `qrv run` and `qrv cron`: snapshot every volume of
// a group under one group id (if one fails, the group's snapshots already made are removed:
// a group is all or nothing), then copy each snapshot whose copy is due and remove it when its
// rules say so.
import type { Job, Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import type { CopyResult } from '../copy/block-copy.ts';
import { newId } from '../core/ids.ts';
import type { Context } from '../engine/context.ts';
import { copyPhase } from '../engine/copy-phase.ts';
import { GroupFreeze } from '../engine/group-freeze.ts';
import { endJob, startJob, type JobRecorder } from '../engine/job-recorder.ts';
import { snapshotPhase } from '../engine/snapshot-phase.ts';
import { unsnapPhase } from '../engine/unsnap-phase.ts';
import { GroupWriters, objectRows, type WriterPlan } from '../engine/writer-hold.ts';
import type { Checkpoint, HoldRecord } from '../writers/writer.ts';
import type { Rules } from '../policy/rules.ts';

export interface Member {
  volume: Volume;
  rules: Rules;
}

export interface Outcome {
  volume: string;
  job: Job;
  snapshot: Snapshot | null;
  qrv: Qrv | null;
  copy: CopyResult | null;
  /** why no copy was made now, when none was */
  deferred: string | null;
  error: Error | null;
}

export interface GroupOptions {
  subclient: string | null;
  label: string | null;
  force: boolean;
  /** the kind of the jobs (default run) */
  kind?: 'run' | 'snap';
  /** application writers to hold at rest for the group's snapshot (F13) */
  writers?: { plan: WriterPlan; timeoutMs: number; checkpoint: Checkpoint };
}

/**
 * Snapshots every member under one group id, in one freeze window (GroupFreeze: every member's
 * pre-snapshot hook, then all frozen, all snapshotted, all thawed, then the post-snapshot hooks);
 * on any failure removes what was made and throws the first member's error.
 */
export async function snapshotGroup(
  ctx: Context,
  members: Member[],
  options: GroupOptions,
): Promise<{ jobs: JobRecorder[]; snapshots: Snapshot[]; groupId: string }> {
  const groupId = newId('g');
  const jobs: JobRecorder[] = [];
  for (const { volume } of members) jobs.push(await startJob(ctx, options.kind ?? 'run', volume.name));
  const writers = new GroupWriters(options.writers?.plan, jobs[0], {
    label: `qrv ${groupId}`,
    timeoutMs: options.writers?.timeoutMs ?? 0,
    checkpoint: options.writers?.checkpoint ?? 'fast',
  });
  const groupFreeze =
    members.length > 1 || options.writers ? new GroupFreeze(members.length, writers.beforeFreeze) : undefined;
  const settled = await Promise.allSettled(
    members.map(({ volume, rules }, index) =>
      snapshotPhase(ctx, jobs[index] as JobRecorder, volume, {
        persistMs: rules.persistMs,
        label: options.label,
        hooks: rules.hooks,
        hookTimeoutMs: rules.hookTimeoutMs,
        groupId,
        subclient: options.subclient,
        policy: rules.policy,
        groupFreeze,
        maxFreezeMs: rules.maxFreezeMs,
        allowInconsistent: rules.allowInconsistent,
      }).catch((error: unknown) => {
        groupFreeze?.abort(error);
        throw error;
      }),
    ),
  );
  const rejected = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  const released = await writers.end(rejected !== undefined);
  const failed = rejected ?? (released.error ? { status: 'rejected' as const, reason: released.error } : undefined);
  if (failed) {
    for (const [index, result] of settled.entries()) {
      const job = jobs[index] as JobRecorder;
      if (result.status === 'fulfilled') {
        const snapshot = result.value;
        await unsnapPhase(ctx, job, (members[index] as Member).volume, snapshot).catch((cleanup: Error) =>
          job.warn(`snapshot ${snapshot.id} of the failed group could not be removed: ${cleanup.message}`),
        );
        // A writer not held to the end: its error says so, and that nothing was kept.
        if (rejected) await job.warn(`group ${groupId} failed on another volume; this snapshot was removed`);
      }
      await endJob(job, result.status === 'rejected' ? result.reason : failed.reason);
    }
    throw failed.reason;
  }
  const snapshots = settled.map((result) => (result as PromiseFulfilledResult<Snapshot>).value);
  if (options.writers) await recordObjects(ctx, snapshots, options.writers.plan, released.records);
  return { jobs, snapshots, groupId };
}

/** Writes the application objects each snapshot holds into its row (and the copies returned). */
async function recordObjects(
  ctx: Context,
  snapshots: Snapshot[],
  plan: WriterPlan,
  records: Map<string, HoldRecord>,
): Promise<void> {
  for (const snapshot of snapshots) snapshot.objects = objectRows(plan, records, snapshot.volume);
  await ctx.catalog.update((data) => {
    for (const snapshot of snapshots) {
      const row = data.snapshots.find((s) => s.id === snapshot.id);
      if (row) row.objects = snapshot.objects;
    }
  });
}

/**
 * Copies one snapshot to its rules' destination and removes it afterwards when the rules say
 * so. A failed copy removes the snapshot only when `rollback` (run: leave the system as it was).
 */
export async function copyAndUnsnap(
  ctx: Context,
  job: JobRecorder,
  member: Member,
  snapshot: Snapshot,
  options: { force: boolean; rollback: boolean },
): Promise<{ snapshot: Snapshot; qrv: Qrv; copy: CopyResult }> {
  const { volume, rules } = member;
  let outcome;
  // Recorded (written, not only held in memory) before the copy begins, so that a run killed
  // before it is finished by `qrv doctor --fix`.
  job.set({ destination: rules.dest });
  await job.commit();
  try {
    outcome = await copyPhase(ctx, job, volume, snapshot, {
      to: rules.dest as string,
      force: options.force,
      hooks: rules.hooks,
      hookTimeoutMs: rules.hookTimeoutMs,
      incremental: rules.incremental,
      throttle: rules.throttle,
    });
  } catch (error) {
    if (options.rollback && rules.removeAfterCopy) {
      await unsnapPhase(ctx, job, volume, snapshot).catch((cleanup: Error) =>
        job.warn(`snapshot ${snapshot.id} could not be removed after the failed copy: ${cleanup.message}`),
      );
    } else {
      await job.warn(`snapshot ${snapshot.id} is kept although the copy failed`);
    }
    throw error;
  }
  const copied = { ...snapshot, copiedTo: outcome.qrv.id };
  if (rules.removeAfterCopy && rules.incremental) {
    // An incremental QRV's next update is computed against the snapshot it now reflects: keep
    // that one (the provider can then say what changed) and remove the base it replaces.
    job.skip('unsnap', 'remove snapshot', `kept as the base of QRV ${outcome.qrv.id} for its next incremental update`);
    await removeOldBase(ctx, job, volume, outcome.previousSnapshotId, snapshot.id);
    return { snapshot: copied, qrv: outcome.qrv, copy: outcome.copy };
  }
  if (!rules.removeAfterCopy) {
    job.skip(
      'unsnap',
      'remove snapshot',
      snapshot.persistUntil ? `kept until ${snapshot.persistUntil}` : 'kept (--keep-snapshot or the policy keeps it)',
    );
    return { snapshot: copied, ...outcome };
  }
  return { snapshot: await unsnapPhase(ctx, job, volume, copied), qrv: outcome.qrv, copy: outcome.copy };
}

/** Removes the snapshot an incremental QRV was based on before, unless something else keeps it. */
async function removeOldBase(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  previousId: string | null,
  currentId: string,
): Promise<void> {
  if (!previousId || previousId === currentId) return;
  const data = await ctx.catalog.read();
  const old = data.snapshots.find((s) => s.id === previousId);
  if (!old || old.state !== 'ready' || old.pinned) return;
  if (old.persistUntil !== null && Date.parse(old.persistUntil) > ctx.now().getTime()) return;
  if (data.qrvs.some((q) => q.state !== 'removed' && q.state !== 'promoted' && q.snapshotId === old.id)) return;
  await unsnapPhase(ctx, job, volume, old).catch((error: Error) =>
    job.warn(`the previous base snapshot ${old.id} could not be removed: ${error.message}`),
  );
}
