// The unsnap phase in-process, against a fake provider that records what it is asked to remove
// and fails where told: what may be removed, one snapshot removed (row `removed`, the provider
// asked with its handle), a removal that fails (the row as it was), and many removed in batches
// (one failure does not stop the others; a batch's rows are `removing` only while it runs). The
// real providers go through the same phase in the CLI tests (file) and the VM lane (lvm, dm).
import path from 'node:path';
import t, { type Test } from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Snapshot } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { withJob } from '../../src/engine/job-recorder.ts';
import type { Provider } from '../../src/providers/provider.ts';
import type * as SnapshotPhase from '../../src/engine/snapshot-phase.ts';
import type * as UnsnapPhase from '../../src/engine/unsnap-phase.ts';
import { checkRemovable } from '../../src/engine/unsnap-phase.ts';
import { volumeRow } from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2026-12-04T12:00:00.000Z';

function fakeProvider(failing: Set<string>, removed: string[], made: { n: number }): Provider {
  return {
    name: 'fake',
    description: 'records removals',
    inspect: async () => ({ sizeBytes: 1 << 20, kind: 'block' }),
    defaultOptions: () => ({}),
    createSnapshot: async (_volume, id) => ({
      handle: `h-${(made.n += 1)}`,
      path: `/fake/${id}`,
      sizeBytes: 1 << 20,
      method: 'fake',
      suspendedMs: 1,
    }),
    removeSnapshot: async (_volume, handle) => {
      if (failing.has(handle)) throw new Error(`cannot remove ${handle}`);
      removed.push(handle);
    },
    listSnapshots: async () => [],
  };
}

async function setup(t: Test, failing: Set<string> = new Set()) {
  const removed: string[] = [];
  const made = { n: 0 }; // the registry is asked for the provider each time: handles count across
  const mocks = { '../../src/providers/registry.ts': { getProvider: () => fakeProvider(failing, removed, made) } };
  const { snapshotPhase } = await t.mockImport<typeof SnapshotPhase>('../../src/engine/snapshot-phase.ts', mocks);
  const phase = await t.mockImport<typeof UnsnapPhase>('../../src/engine/unsnap-phase.ts', mocks);
  const catalog = await Catalog.open(path.join(await tmpDir(t), 'home'));
  const volume = volumeRow('v', { provider: 'fake', path: '/nonexistent/fake-device', addedAt: AT });
  await catalog.update((data) => void data.volumes.push(volume));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  const snap = async (): Promise<Snapshot> =>
    (
      await withJob(ctx, 'snap', 'v', (job) =>
        snapshotPhase(ctx, job, volume, { persistMs: null, label: null, hooks: {}, hookTimeoutMs: 1000 }),
      )
    ).result;
  return { catalog, ctx, volume, removed, snap, phase };
}

const rowOf = (rows: Snapshot[], id: string) => rows.find((row) => row.id === id);

t.test('what may be removed', async (t) => {
  const row = { id: 's-1', state: 'ready', pinned: false, removedAt: null } as unknown as Snapshot;
  t.doesNotThrow(() => checkRemovable(row, false, false));
  t.throws(() => checkRemovable({ ...row, state: 'removed', removedAt: AT }, true, false), {
    exit: 'refused',
    code: 'snapshot-removed',
  });
  t.throws(() => checkRemovable({ ...row, pinned: true }, false, false), { exit: 'refused', code: 'snapshot-pinned' });
  t.doesNotThrow(() => checkRemovable({ ...row, pinned: true }, true, false), '--force removes a pinned one');
  t.throws(() => checkRemovable(row, true, true), { exit: 'busy', code: 'snapshot-in-use' });
});

t.test('removed: the provider asked with its handle, the row kept as removed', async (t) => {
  const { catalog, ctx, volume, removed, snap, phase } = await setup(t);
  const snapshot = await snap();
  const { result, job } = await withJob(ctx, 'unsnap', 'v', (j) => phase.unsnapPhase(ctx, j, volume, snapshot));
  t.same(removed, [snapshot.handle]);
  t.match(result, { id: snapshot.id, state: 'removed', removedAt: AT });
  t.match(rowOf((await catalog.read()).snapshots, snapshot.id), { state: 'removed', removedAt: AT });
  t.same(
    job.steps.map((s) => s.name),
    ['remove snapshot'],
  );
});

t.test('the removal fails: the row is as it was, the job failed', async (t) => {
  const { catalog, ctx, volume, snap, phase } = await setup(t, new Set(['h-1']));
  const snapshot = await snap();
  await t.rejects(
    withJob(ctx, 'unsnap', 'v', (j) => phase.unsnapPhase(ctx, j, volume, snapshot)),
    /cannot remove h-1/,
  );
  const data = await catalog.read();
  t.match(rowOf(data.snapshots, snapshot.id), { state: 'ready', removedAt: null });
  t.match(
    data.jobs.find((j) => j.kind === 'unsnap'),
    { state: 'failed' },
  );
});

t.test('in batches: one failure does not stop the others, each batch settled', async (t) => {
  const { catalog, ctx, volume, removed, snap, phase } = await setup(t, new Set(['h-2']));
  const snapshots = [await snap(), await snap(), await snap()];
  const failed: string[] = [];
  const { result, job } = await withJob(ctx, 'unsnap', 'v', (j) =>
    phase.unsnapBatches(ctx, j, volume, snapshots, (s, error) => void failed.push(`${s.id}: ${error}`)),
  );
  t.same(removed, ['h-1', 'h-3']);
  t.same(
    result.removed.map((r) => r.id),
    [snapshots[0]?.id, snapshots[2]?.id],
  );
  t.match(result.failed, [{ snapshot: { id: snapshots[1]?.id }, error: /cannot remove h-2/ }]);
  t.match(failed, [new RegExp(`^${snapshots[1]?.id}: .*cannot remove h-2`)]);
  // a removed row is `removed`, or already moved from the live catalog to the history store
  const rows = (await catalog.read()).snapshots;
  const states = snapshots.map((s) => rowOf(rows, s.id)?.state ?? 'in history');
  t.equal(states[1], 'ready', 'the one that failed is ready again');
  for (const i of [0, 2]) t.match(states[i], /^(removed|in history)$/, `snapshot ${i + 1} is removed`);
  t.notOk(
    rows.some((row) => row.state === 'removing'),
    'none is left removing',
  );
  t.same(
    job.steps.map((s) => s.name),
    ['remove 3 snapshot(s) of v'],
  );
});

t.test('more than a batch: two steps, every row settled', async (t) => {
  const { catalog, ctx, volume, removed, phase } = await setup(t);
  const count = phase.UNSNAP_BATCH + 2;
  const refs = Array.from({ length: count }, (_, i) => ({
    id: `s-${String(i).padStart(12, '0')}`,
    volume: 'v',
    handle: `h-${i}`,
  }));
  const { result, job } = await withJob(ctx, 'unsnap', 'v', (j) =>
    phase.unsnapBatches(ctx, j, volume, refs, () => undefined),
  );
  t.equal(removed.length, count);
  t.equal(result.removed.length, count);
  t.same(
    job.steps.map((s) => s.name),
    [`remove ${phase.UNSNAP_BATCH} snapshot(s) of v`, 'remove 2 snapshot(s) of v'],
  );
  t.match(
    (await catalog.read()).jobs.find((j) => j.kind === 'unsnap'),
    { state: 'succeeded' },
  );
});
