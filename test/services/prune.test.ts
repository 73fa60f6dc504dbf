// `qrv prune` of many snapshots: one job per volume removing them in batches, with a bounded
// number of catalog writes however many snapshots go, and one that fails does not stop the rest.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Snapshot } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { UNSNAP_BATCH } from '../../src/engine/unsnap-phase.ts';
import { prune } from '../../src/services/prune.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';

const AT = '2026-11-30T12:00:00.000Z';
const N = 2500;

async function setup(t: { teardown: (fn: () => unknown) => void }) {
  const dir = await tmpDir(t);
  const image = await sparseFile(path.join(dir, 'v.img'), 1 << 20);
  const store = path.join(dir, '.qrv-snapshots');
  await fs.mkdir(store, { mode: 0o700 });
  const base = path.join(store, 'base');
  await fs.writeFile(base, 'x');
  const catalog = await Catalog.open(path.join(dir, 'home'));
  const rows: Snapshot[] = [];
  for (let i = 0; i < N; i += 1) {
    const id = `s-${(0x10000000 + i).toString(16)}`;
    const file = path.join(store, `v@${id}.img`);
    await fs.link(base, file);
    rows.push({
      id,
      volume: 'v',
      subclient: null,
      provider: 'file',
      handle: file,
      path: file,
      createdAt: new Date(Date.parse(AT) - (N - i) * 60_000).toISOString(),
      persistUntil: '2026-11-01T00:00:00.000Z',
      label: null,
      pinned: false,
      state: 'ready',
      sizeBytes: 1,
      groupId: 'g-00000001',
      method: 'copy',
      quiesce: 'none',
      suspendedMs: 0,
      objects: [],
      jobId: 'j-00000001',
      removedAt: null,
      policy: null,
      copiedTo: null,
      consistency: 'atomic',
      copyRate: null,
    });
  }
  // one that cannot go: its handle is outside the volume's store, which the file provider refuses
  (rows[7] as Snapshot).handle = path.join(dir, 'elsewhere.img');
  await catalog.update((data) => {
    data.volumes.push({
      name: 'v',
      provider: 'file',
      path: image,
      options: {},
      sizeBytes: 1 << 20,
      addedAt: AT,
      policy: null,
      discovered: false,
    });
    data.snapshots.push(...rows);
  });
  let writes = 0;
  const update = catalog.update.bind(catalog);
  catalog.update = ((change) => {
    writes += 1;
    return update(change);
  }) as typeof catalog.update;
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(AT) };
  return { ctx, catalog, rows, store, writes: () => writes };
}

t.test(`pruning ${N} expired snapshots is one job per volume with a bounded number of catalog writes`, async (t) => {
  const { ctx, catalog, rows, store, writes } = await setup(t);
  const summary = await prune(ctx, { dryRun: false });
  const removed = summary.data.removed as { id: string }[];
  const failed = summary.data.failed as { id: string; error: string }[];
  t.equal(removed.length, N - 1, 'every snapshot but the one that could not go');
  t.same(
    failed.map((f) => f.id),
    [(rows[7] as Snapshot).id],
    'that one is reported',
  );
  t.match(failed[0]?.error, /not in the snapshot store/);
  t.equal(summary.exit, 'partial');
  const batches = Math.ceil(N / UNSNAP_BATCH);
  t.ok(writes() <= batches + 1, `${writes()} catalog writes for ${batches} batches`);
  t.same(
    (await fs.readdir(store)).sort(),
    ['base', `v@${(rows[7] as Snapshot).id}.img`],
    'the files are gone, the failed one stays',
  );
  const data = await catalog.read();
  t.equal(
    data.snapshots
      .filter((s) => s.state === 'ready')
      .map((s) => s.id)
      .join(),
    (rows[7] as Snapshot).id,
    'the one that failed is ready again',
  );
  t.ok(data.snapshots.length <= 3, 'removed rows went to history');
  const jobs = data.jobs.filter((j) => j.kind === 'unsnap');
  t.equal(jobs.length, 1, 'one job');
  t.equal(jobs[0]?.steps.length, batches, 'a step per batch');
  t.match(jobs[0]?.error, { code: 'unsnap-partial' });
  let moved = 0;
  await catalog.history.scan({ kinds: ['snapshot'] }, () => void (moved += 1));
  t.ok(moved >= N - 3, `the removed rows are in the history store (${moved})`);
  let prunes = 0;
  await catalog.history.scan({ kinds: ['prune'] }, (r) => void (prunes += (r.row as { removed: number }).removed));
  t.equal(prunes, N - 1, 'with a line for the prune');
});
