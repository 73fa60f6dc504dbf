// F4: removes a snapshot through its provider and marks the row removed (the row stays, so
// that point-in-time questions can say a copy existed and was deleted).
import type { Snapshot, Volume } from '../catalog/schema.ts';
import { positionsWhere } from '../catalog/tracked.ts';
import { QrvError } from '../core/errors.ts';
import { getProvider } from '../providers/registry.ts';
import type { Context } from './context.ts';
import type { JobRecorder } from './job-recorder.ts';
import { volumeRef, type Provider } from '../providers/provider.ts';
import { replaceSnapshot } from './snapshot-phase.ts';

export function checkRemovable(snapshot: Snapshot, force: boolean, copyingFrom: boolean): void {
  if (snapshot.state === 'removed')
    throw new QrvError(
      'refused',
      'snapshot-removed',
      `snapshot ${snapshot.id} was already removed (${snapshot.removedAt})`,
      'nothing to do',
    );
  if (snapshot.pinned && !force)
    throw new QrvError(
      'refused',
      'snapshot-pinned',
      `snapshot ${snapshot.id} is pinned`,
      `unpin it first with \`qrv set ${snapshot.id} --unpin\``,
    );
  if (copyingFrom)
    throw new QrvError(
      'busy',
      'snapshot-in-use',
      `snapshot ${snapshot.id} is being copied right now`,
      'wait for the copy to finish',
    );
}

export async function unsnapPhase(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  snapshot: Snapshot,
): Promise<Snapshot> {
  const row = structuredClone(snapshot);
  row.state = 'removing';
  job.set({ snapshotId: snapshot.id });
  await job.begin((catalog) => replaceSnapshot(catalog.snapshots, row));
  const provider = getProvider(snapshot.provider);
  try {
    await job.step(
      'unsnap',
      'remove snapshot',
      async () => {
        if (row.handle) await provider.removeSnapshot(volumeRef(volume), row.handle);
      },
      () => `${row.id} removed`,
    );
  } catch (error) {
    row.state = snapshot.state;
    await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
    throw error;
  }
  row.state = 'removed';
  row.removedAt = ctx.now().toISOString();
  await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
  return row;
}

/** Snapshots removed together: each catalog write marks one batch's outcome and the next batch `removing`. */
export const UNSNAP_BATCH = 1000;

/** What removing a snapshot needs of its row: a prune of thousands holds these, not the rows. */
export type SnapshotRef = Pick<Snapshot, 'id' | 'volume' | 'handle'>;

export interface BatchOutcome {
  removed: (SnapshotRef & { removedAt: string })[];
  failed: { snapshot: SnapshotRef; error: string }[];
}

/**
 * Removes many snapshots of one volume as one job with a bounded number of catalog writes: one
 * write marks the first batch `removing` (with the job row), and one after each batch marks what
 * went `removed`, puts what failed back as it was, and marks the next batch `removing` (the last
 * one ends the job). A kill leaves at most one batch `removing`, which `qrv doctor` finishes.
 * One snapshot that fails to go does not stop the others.
 */
export async function unsnapBatches(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  snapshots: SnapshotRef[],
  onFailed: (snapshot: SnapshotRef, error: string) => void,
): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { removed: [], failed: [] };
  const batches: SnapshotRef[][] = [];
  for (let at = 0; at < snapshots.length; at += UNSNAP_BATCH) batches.push(snapshots.slice(at, at + UNSNAP_BATCH));
  const removing: BatchRemoval = { ctx, volume, provider: getProvider(volume.provider), outcome, onFailed };
  await job.begin((catalog) => markRemoving(batches[0], catalog.snapshots));
  for (const [index, batch] of batches.entries()) {
    job.hold();
    const done = await job.step(
      'unsnap',
      `remove ${batch.length} snapshot(s) of ${volume.name}`,
      () => removeBatch(removing, batch),
      ({ gone }) => `${gone.size} removed, ${batch.length - gone.size} failed`,
    );
    const next = batches[index + 1];
    const change = (catalog: { snapshots: Snapshot[] }) => {
      settleBatch(catalog.snapshots, done);
      markRemoving(next, catalog.snapshots);
    };
    if (next) await job.release(change);
    else {
      job.unhold();
      return finishWith(job, outcome, change);
    }
  }
  return outcome;
}

/** What removing a batch needs, and where it records what went and what failed. */
interface BatchRemoval {
  ctx: Context;
  volume: Volume;
  provider: Provider;
  outcome: BatchOutcome;
  onFailed: (snapshot: SnapshotRef, error: string) => void;
}

/** What a batch's removal did: the snapshots gone (with when), and those kept because they failed. */
interface BatchDone {
  gone: Map<string, string>;
  kept: Set<string>;
}

/** Marks a batch's ready rows `removing`. */
function markRemoving(batch: SnapshotRef[] | undefined, rows: Snapshot[]): void {
  const ids = new Set((batch ?? []).map((s) => s.id));
  for (const at of positionsWhere(rows, (row) => ids.has(row.id) && row.state === 'ready'))
    (rows[at] as Snapshot).state = 'removing';
}

/** Removes each snapshot of a batch; one that fails does not stop the others. */
async function removeBatch(removing: BatchRemoval, batch: SnapshotRef[]): Promise<BatchDone> {
  const { ctx, volume, provider, outcome } = removing;
  const done: BatchDone = { gone: new Map(), kept: new Set() };
  for (const snapshot of batch) {
    try {
      if (snapshot.handle) await provider.removeSnapshot(volumeRef(volume), snapshot.handle);
      const removedAt = ctx.now().toISOString();
      done.gone.set(snapshot.id, removedAt);
      outcome.removed.push({ id: snapshot.id, volume: snapshot.volume, handle: snapshot.handle, removedAt });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      done.kept.add(snapshot.id);
      outcome.failed.push({ snapshot, error: message });
      removing.onFailed(snapshot, message);
    }
  }
  return done;
}

/** The rows of a removed batch: `removed` (with when) for what went, `ready` again for what failed. */
function settleBatch(rows: Snapshot[], done: BatchDone): void {
  const { gone, kept } = done;
  for (const at of positionsWhere(rows, (row) => gone.has(row.id) || (kept.has(row.id) && row.state === 'removing'))) {
    const row = rows[at] as Snapshot;
    const removedAt = gone.get(row.id);
    if (removedAt !== undefined) {
      row.state = 'removed';
      row.removedAt = removedAt;
    } else row.state = 'ready';
  }
}

async function finishWith(
  job: JobRecorder,
  outcome: BatchOutcome,
  change: (catalog: { snapshots: Snapshot[] }) => void,
): Promise<BatchOutcome> {
  const error = outcome.failed.length
    ? new QrvError(
        'partial',
        'unsnap-partial',
        `${outcome.failed.length} of ${outcome.failed.length + outcome.removed.length} snapshot(s) could not be removed`,
        'see the warnings',
      )
    : undefined;
  await job.finish(error, change);
  return outcome;
}
