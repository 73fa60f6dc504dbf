// The snapshot phase in-process, against a fake provider that records what it is asked and fails
// where told: what is recorded when the snapshot is made, when it fails before, during and after
// the window, and that what was prepared is discarded exactly when nothing else owns it. The real
// providers go through the same phase in the CLI tests (file) and the VM lane (lvm, dm).
import path from 'node:path';
import t, { type Test } from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { withJob } from '../../src/engine/job-recorder.ts';
import type { Provider } from '../../src/providers/provider.ts';
import type * as Phase from '../../src/engine/snapshot-phase.ts';
import { volumeRow } from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2026-12-03T12:00:00.000Z';
type FailAt = 'prepare' | 'create' | null;

function fakeProvider(failAt: FailAt, calls: string[]): Provider {
  return {
    name: 'fake',
    description: 'records calls',
    inspect: async () => ({ sizeBytes: 1 << 20, kind: 'block' }),
    defaultOptions: () => ({}),
    prepareSnapshot: async (_volume, id) => {
      calls.push(`prepare ${id}`);
      if (failAt === 'prepare') throw new Error('prepare failed');
      return { discard: async () => void calls.push(`discard ${id}`) };
    },
    createSnapshot: async (_volume, id, options) => {
      calls.push(`create ${id}${options?.prepared ? ' (prepared)' : ''}`);
      if (failAt === 'create') throw new Error('create failed');
      return { handle: `h-${id}`, path: `/fake/${id}`, sizeBytes: 1 << 20, method: 'fake', suspendedMs: 1 };
    },
    removeSnapshot: async (_volume, handle) => void calls.push(`remove ${handle}`),
    listSnapshots: async () => [],
  };
}

async function setup(t: Test, failAt: FailAt) {
  const calls: string[] = [];
  const { snapshotPhase } = await t.mockImport<typeof Phase>('../../src/engine/snapshot-phase.ts', {
    '../../src/providers/registry.ts': { getProvider: () => fakeProvider(failAt, calls) },
  });
  const catalog = await Catalog.open(path.join(await tmpDir(t), 'home'));
  const volume = volumeRow('v', { provider: 'fake', path: '/nonexistent/fake-device', addedAt: AT });
  await catalog.update((data) => void data.volumes.push(volume));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  const snap = () =>
    withJob(ctx, 'snap', 'v', (job) =>
      snapshotPhase(ctx, job, volume, { persistMs: null, label: null, hooks: {}, hookTimeoutMs: 1000 }),
    );
  return { catalog, calls, snap };
}

const stepNames = (job: { steps: Array<{ name: string }> }) => job.steps.map((s) => s.name);

t.test('made: prepared before the window, taken with what was prepared, recorded ready', async (t) => {
  const { catalog, calls, snap } = await setup(t, null);
  const { result, job } = await snap();
  t.match(result, { state: 'ready', handle: /^h-s-/, method: 'fake', quiesce: 'none' });
  t.same(calls, [`prepare ${result.id}`, `create ${result.id} (prepared)`]);
  t.same(stepNames(job), ['check volume', 'prepare snapshot', 'bring to rest', 'take snapshot', 'resume I/O', 'index']);
  const data = await catalog.read();
  t.match(data.snapshots, [{ id: result.id, state: 'ready', handle: result.handle }]);
});

t.test('the preparation fails: nothing taken, the row recorded failed', async (t) => {
  const { catalog, calls, snap } = await setup(t, 'prepare');
  await t.rejects(snap(), /prepare failed/);
  t.equal(calls.length, 1, `only prepare was asked: ${calls.join(', ')}`);
  t.match((await catalog.read()).snapshots, [{ state: 'failed' }]);
});

t.test('the snapshot fails: createSnapshot owns what was prepared (no discard), I/O resumed, row failed', async (t) => {
  const { catalog, calls, snap } = await setup(t, 'create');
  await t.rejects(snap(), /create failed/);
  t.notOk(
    calls.some((c) => c.startsWith('discard')),
    `not discarded by the phase: ${calls.join(', ')}`,
  );
  const data = await catalog.read();
  t.match(data.snapshots, [{ state: 'failed' }]);
  t.ok(stepNames(data.jobs[0] as never).includes('resume I/O'), 'the thaw step ran');
});

t.test('a failure after the freeze, before the snapshot: what was prepared is discarded', async (t) => {
  const { catalog, calls, snap } = await setup(t, null);
  process.env.QRV_FAILPOINTS = 'after-freeze=error';
  t.teardown(() => void delete process.env.QRV_FAILPOINTS);
  await t.rejects(snap(), /failpoint after-freeze/);
  t.match(calls, [/^prepare /, /^discard /]);
  t.notOk(
    calls.some((c) => c.startsWith('create')),
    'never taken',
  );
  t.match((await catalog.read()).snapshots, [{ state: 'failed' }]);
});

t.test('a failure after the snapshot was made: recorded failed, the thaw step ran', async (t) => {
  const { catalog, calls, snap } = await setup(t, null);
  process.env.QRV_FAILPOINTS = 'after-snapshot=error';
  t.teardown(() => void delete process.env.QRV_FAILPOINTS);
  await t.rejects(snap(), /failpoint after-snapshot/);
  t.match(calls, [/^prepare /, /^create .* \(prepared\)$/]);
  const data = await catalog.read();
  t.match(data.snapshots, [{ state: 'failed' }]);
  t.ok(stepNames(data.jobs[0] as never).includes('resume I/O'), 'the thaw step ran');
});
