// `qrv prune` of many snapshots: one job per volume removing them in batches, with a bounded
// number of catalog writes however many snapshots go, and one that fails does not stop the rest;
// the summary of a prune and of a dry run, line by line, and what a volume whose job fails gets.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Job, Snapshot } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { activeJobs } from '../../src/engine/job-recorder.ts';
import { UNSNAP_BATCH } from '../../src/engine/unsnap-phase.ts';
import { prune } from '../../src/services/prune.ts';
import { snapshotRow, volumeRow } from '../helpers/check-rows.ts';
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

const LAPSED = '2026-11-01T00:00:00.000Z';
const lapsed = `persistence lapsed at ${LAPSED}`;
const sid = (n: number) => `s-${n.toString(16).padStart(8, '0')}`;

/**
 * Volumes a and b: lapsed snapshots a1, b2 (which cannot go: its handle is outside the store) and
 * b3; a4 lapsed but pinned; a5 kept for good. The reporter's warnings are collected.
 */
async function volumesAB(t: { teardown: (fn: () => unknown) => void }) {
  const dir = await tmpDir(t);
  const store = path.join(dir, '.qrv-snapshots');
  await fs.mkdir(store, { mode: 0o700 });
  const volumes = ['a', 'b'].map((name) => volumeRow(name, { path: path.join(dir, `${name}.img`) }));
  for (const volume of volumes) await sparseFile(volume.path, 1 << 20);
  const snapshot = async (volume: string, n: number, over: Partial<Snapshot> = {}) => {
    const file = path.join(store, `${volume}@${sid(n)}.img`);
    await fs.writeFile(file, 'x');
    const createdAt = new Date(Date.parse(AT) - (10 - n) * 3_600_000).toISOString();
    return snapshotRow(volume, createdAt, { id: sid(n), handle: file, path: file, persistUntil: LAPSED, ...over });
  };
  const rows = [
    await snapshot('a', 1),
    await snapshot('b', 2, { handle: path.join(dir, 'elsewhere.img') }),
    await snapshot('b', 3),
    await snapshot('a', 4, { pinned: true }),
    await snapshot('a', 5, { persistUntil: null }),
  ];
  const catalog = await Catalog.open(path.join(dir, 'home'));
  await catalog.update((data) => {
    data.volumes.push(...volumes);
    data.snapshots.push(...rows);
  });
  const warnings: string[] = [];
  const reporter = new Reporter();
  reporter.subscribe((event) => void (event.type === 'warning' && warnings.push(event.message)));
  const ctx: Context = { catalog, reporter, now: () => new Date(AT) };
  return { ctx, catalog, store, warnings };
}

/** The prune lines the history store holds. */
async function pruneLines(catalog: Catalog): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  await catalog.history.scan({ kinds: ['prune'] }, (r) => void lines.push(r.row as Record<string, unknown>));
  return lines;
}

const keptA4 = `kept ${sid(4)} of a: pinned (${lapsed})`;

t.test('a dry run says what would go and what stays, and changes nothing', async (t) => {
  const { ctx, catalog, store } = await volumesAB(t);
  const catalogFile = path.join(catalog.home, 'catalog.json');
  const before = await fs.readFile(catalogFile);
  const files = (await fs.readdir(store)).sort();
  t.same(await prune(ctx, { dryRun: true }), {
    data: {
      dryRun: true,
      wouldRemove: [
        { id: sid(1), volume: 'a', reason: lapsed },
        { id: sid(2), volume: 'b', reason: lapsed },
        { id: sid(3), volume: 'b', reason: lapsed },
      ],
      kept: [{ id: sid(4), reason: `pinned (${lapsed})` }],
    },
    lines: [
      `would remove ${sid(1)} of a: ${lapsed}`,
      `would remove ${sid(2)} of b: ${lapsed}`,
      `would remove ${sid(3)} of b: ${lapsed}`,
      keptA4,
      '3 snapshot(s) and 0 generation(s) would go (dry run: nothing changed)',
    ],
  });
  t.same(await fs.readFile(catalogFile), before, 'the catalog is untouched');
  t.same((await fs.readdir(store)).sort(), files, 'and every snapshot is still there');
  t.same(await pruneLines(catalog), [], 'no prune line');
  await catalog.update((data) => void (data.snapshots = data.snapshots.filter((s) => s.pinned || !s.persistUntil)));
  t.same((await prune(ctx, { dryRun: true })).lines, [keptA4, 'nothing to prune']);
});

t.test('a prune: one job per volume in the order planned, its lines, a warning for what could not go', async (t) => {
  const { ctx, catalog, store, warnings } = await volumesAB(t);
  // a month of history older than the retention (400 days by default)
  await catalog.history.append([{ id: 'j-0ld', at: '2025-01-15T00:00:00.000Z', kind: 'job', volume: 'a', row: {} }]);
  const summary = await prune(ctx, { dryRun: false });
  const failure = summary.data.failed as { error: string }[];
  t.match(failure, [{ error: /not in the snapshot store/ }]);
  const error = failure[0]?.error;
  t.same(summary, {
    data: {
      dryRun: false,
      removed: [
        { id: sid(1), volume: 'a', reason: lapsed },
        { id: sid(3), volume: 'b', reason: lapsed },
      ],
      failed: [{ id: sid(2), volume: 'b', error }],
      kept: [{ id: sid(4), reason: `pinned (${lapsed})` }],
    },
    lines: [
      `removed ${sid(1)} of a: ${lapsed}`,
      `removed ${sid(3)} of b: ${lapsed}`,
      keptA4,
      'history: dropped jobs-2025-01.ndjson (older than the retention of 400d)',
      '2 removed, 1 failed',
    ],
    exit: 'partial',
  });
  t.same(warnings, [`could not remove ${sid(2)} of b: ${error}`]);
  t.same((await fs.readdir(store)).sort(), [2, 4, 5].map((n) => `${n === 2 ? 'b' : 'a'}@${sid(n)}.img`).sort());
  const jobs = [...(await catalog.read()).jobs];
  await catalog.history.scan({ kinds: ['job'] }, (r) => void jobs.push(r.row as Job));
  const unsnaps = jobs.filter((j) => j.kind === 'unsnap').sort((x, y) => x.volume.localeCompare(y.volume));
  t.match(unsnaps, [
    { volume: 'a', state: 'succeeded' },
    { volume: 'b', state: 'failed', error: { code: 'unsnap-partial' } },
  ]);
  t.same(await pruneLines(catalog), [
    {
      at: AT,
      jobs: unsnaps.map((j) => j.id),
      removed: 2,
      failed: 1,
      removedIds: [sid(1), sid(3)],
      failures: [{ id: sid(2), volume: 'b', error }],
      droppedMonths: ['jobs-2025-01.ndjson'],
    },
  ]);
});

t.test('a prune with nothing to remove writes no prune line, unless history months were dropped', async (t) => {
  const { ctx, catalog } = await volumesAB(t);
  await catalog.update((data) => void (data.snapshots = data.snapshots.filter((s) => s.pinned || !s.persistUntil)));
  t.same(await prune(ctx, { dryRun: false }), {
    data: { dryRun: false, removed: [], failed: [], kept: [{ id: sid(4), reason: `pinned (${lapsed})` }] },
    lines: [keptA4],
  });
  t.same(await pruneLines(catalog), []);
  await catalog.history.append([{ id: 'j-0ld', at: '2025-01-15T00:00:00.000Z', kind: 'job', volume: 'a', row: {} }]);
  t.same((await prune(ctx, { dryRun: false })).lines, [
    keptA4,
    'history: dropped jobs-2025-01.ndjson (older than the retention of 400d)',
  ]);
  t.match(await pruneLines(catalog), [{ jobs: [], removed: 0, failed: 0, droppedMonths: ['jobs-2025-01.ndjson'] }]);
});

t.test(
  "a volume whose job cannot begin: each of its snapshots fails with that error, the next volume's go",
  async (t) => {
    const { ctx, catalog, warnings } = await volumesAB(t);
    const update = catalog.update.bind(catalog);
    let writes = 0;
    // the first write of the prune is volume a's job beginning
    catalog.update = ((change) => {
      writes += 1;
      return writes === 1 ? Promise.reject(new Error('the catalog disk is full')) : update(change);
    }) as typeof catalog.update;
    const summary = await prune(ctx, { dryRun: false });
    t.same(summary.data.removed, [{ id: sid(3), volume: 'b', reason: lapsed }]);
    const failed = summary.data.failed as { id: string; volume: string; error: string }[];
    t.same(
      failed.map((f) => [f.id, f.volume]),
      [
        [sid(1), 'a'],
        [sid(2), 'b'],
      ],
      'in the order the volumes were taken',
    );
    t.equal(failed[0]?.error, 'the catalog disk is full');
    t.match(failed[1]?.error, /not in the snapshot store/);
    t.same(warnings, [
      `could not remove ${sid(1)} of a: the catalog disk is full`,
      `could not remove ${sid(2)} of b: ${failed[1]?.error}`,
    ]);
    t.equal(summary.exit, 'partial');
    t.same(activeJobs(), [], 'no job is left running in this process');
    const data = await catalog.read();
    t.same(
      data.jobs.filter((j) => j.kind === 'unsnap').map((j) => j.volume),
      ['b'],
      "a's job was never written",
    );
    t.equal(data.snapshots.find((s) => s.id === sid(1))?.state, 'ready', 'a1 is still ready');
    t.match(await pruneLines(catalog), [{ removedIds: [sid(3)], failures: [{ id: sid(1) }, { id: sid(2) }] }]);
    t.equal(((await pruneLines(catalog))[0]?.jobs as string[]).length, 2, "both jobs are named, a's too");
  },
);

t.test('a volume removed after the plan: each of its snapshots fails with why, the others go', async (t) => {
  const { ctx, catalog, warnings } = await volumesAB(t);
  const read = catalog.read.bind(catalog);
  let reads = 0;
  // the prune's second read looks volume a up
  catalog.read = (async () => {
    const data = await read();
    reads += 1;
    if (reads >= 2) data.volumes = data.volumes.filter((v) => v.name !== 'a');
    return data;
  }) as typeof catalog.read;
  const summary = await prune(ctx, { dryRun: false });
  t.same(summary.data.removed, [{ id: sid(3), volume: 'b', reason: lapsed }]);
  const failed = summary.data.failed as { id: string; error: string }[];
  t.same(
    failed.map((f) => f.id),
    [sid(1), sid(2)],
  );
  t.match(failed[0]?.error, /\ba\b/, 'a names the volume');
  t.same(warnings[0], `could not remove ${sid(1)} of a: ${failed[0]?.error}`);
  t.same(summary.lines.at(-1), '1 removed, 2 failed');
});
