// F1 + F2: pre-snapshot hook → bring to rest → snapshot → resume I/O (always) → post-snapshot
// hook → index. The time between "I/O suspended" and "I/O resumed" is measured and stored.
import type { Snapshot, Volume } from '../catalog/schema.ts';
import { untilFrom } from '../core/duration.ts';
import { newId } from '../core/ids.ts';
import { getProvider } from '../providers/registry.ts';
import { loopDevicesBackedBy } from '../system/block-device.ts';
import type { Context } from './context.ts';
import type { Hooks } from './hooks.ts';
import { withHookPair } from './hook-pair.ts';
import type { JobRecorder } from './job-recorder.ts';
import { idTaken, volumeRef } from './lookup.ts';

export interface SnapshotOptions {
  persistMs: number | null;
  label: string | null;
  hooks: Hooks;
  hookTimeoutMs: number;
  groupId?: string;
  subclient?: string | null;
  policy?: string | null;
}

/** How the data is brought to rest. File images with no writer need nothing; #5 adds FIFREEZE. */
async function quiesceMethod(volume: Volume): Promise<{ method: string; warning?: string }> {
  if (volume.provider !== 'file') return { method: 'none' };
  const loops = await loopDevicesBackedBy(volume.path);
  if (loops.length === 0) return { method: 'none' };
  return {
    method: 'none',
    warning: `${volume.path} is attached to ${loops.join(', ')} and qrv does not freeze it yet: writes made while the clone runs may be torn in the snapshot; freeze it from a pre-snapshot hook (fsfreeze -f) and thaw it from the post-snapshot hook`,
  };
}

export async function snapshotPhase(ctx: Context, job: JobRecorder, volume: Volume, options: SnapshotOptions): Promise<Snapshot> {
  const provider = getProvider(volume.provider);
  const ref = volumeRef(volume);
  const facts = await job.step('snapshot', 'check volume', () => provider.inspect(ref), (f) => `${f.sizeBytes} bytes`);
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
    suspendedMs: 0,
    objects: [],
    jobId: job.id,
    removedAt: null,
    policy: options.policy ?? null,
    copiedTo: null,
  };
  const pair = { phase: 'snapshot' as const, pre: 'pre-snapshot' as const, post: 'post-snapshot' as const, hooks: options.hooks, timeoutMs: options.hookTimeoutMs };
  await withHookPair(ctx, job, pair, () => ({ ...env, ...(row.path ? { snapshotPath: row.path } : {}) }), async () => {
    // The point in time is when the snapshot is taken, after the pre-snapshot hook.
    const createdAt = ctx.now();
    row.createdAt = createdAt.toISOString();
    row.persistUntil = untilFrom(createdAt, options.persistMs);
    job.set({ snapshotId });
    // From here on the system changes: the catalog knows a snapshot is being made before it is.
    await job.begin((catalog) => {
      catalog.snapshots.push(structuredClone(row));
      const known = catalog.volumes.find((v) => v.name === volume.name);
      if (known) known.sizeBytes = facts.sizeBytes;
    });

    const quiesce = await job.step('snapshot', 'bring to rest', () => quiesceMethod(volume), (q) => (q.method === 'none' ? 'nothing to quiesce (no writer, not frozen)' : q.method));
    if (quiesce.warning) await job.warn(quiesce.warning);
    row.quiesce = quiesce.method;

    try {
      const made = await job.step('snapshot', 'take snapshot', () => provider.createSnapshot(ref, snapshotId), (m) => `${snapshotId} by ${m.method} in ${m.suspendedMs.toFixed(2)} ms${row.quiesce === 'none' ? ' (nothing frozen: the time the clone took)' : ', I/O suspended'}`);
      Object.assign(row, { handle: made.handle, path: made.path, sizeBytes: made.sizeBytes, method: made.method, suspendedMs: made.suspendedMs, state: 'ready' as const });
    } catch (error) {
      row.state = 'failed';
      await job.commit((catalog) => replaceSnapshot(catalog.snapshots, row));
      throw error;
    } finally {
      // Nothing is frozen by the file provider yet; the step is recorded so every job shows it ran.
      await job.step('snapshot', 'resume I/O', async () => undefined, () => (row.quiesce === 'none' ? 'nothing was suspended beyond the snapshot itself' : undefined));
    }
    // Indexed as soon as it exists (before the post-snapshot hook), so no hook can leave it unknown.
    await job.step('snapshot', 'index', () => job.commit((catalog) => replaceSnapshot(catalog.snapshots, row)), () => `persists ${row.persistUntil ? `until ${row.persistUntil}` : 'until removed'}`);
  });
  return structuredClone(row);
}

export function replaceSnapshot(rows: Snapshot[], row: Snapshot): void {
  const at = rows.findIndex((r) => r.id === row.id);
  if (at >= 0) rows[at] = structuredClone(row);
  else rows.push(structuredClone(row));
}
