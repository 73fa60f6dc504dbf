// The copy-on-write draft a change works on: what it did is exactly the rows it wrote, and the
// catalog it was made from is never changed, whatever the change does.
import t from 'tap';
import { types } from 'node:util';
import { positionsWhere, Tracker } from '../../src/catalog/tracked.ts';
import { emptyCatalog, type CatalogData, type Job, type Snapshot } from '../../src/catalog/schema.ts';

const AT = '2026-01-02T03:04:05.000Z';

function snapshot(id: string): Snapshot {
  return {
    id,
    volume: 'v',
    subclient: null,
    provider: 'file',
    handle: `/s/${id}`,
    path: `/s/${id}`,
    createdAt: AT,
    persistUntil: null,
    label: null,
    pinned: false,
    state: 'ready',
    sizeBytes: 1,
    groupId: `g-${id}`,
    method: 'reflink',
    quiesce: 'none',
    suspendedMs: 0,
    objects: [],
    jobId: 'j-1',
    removedAt: null,
    policy: null,
    copiedTo: null,
    consistency: 'atomic',
    copyRate: null,
  };
}

function job(id: string): Job {
  return {
    id,
    kind: 'snap',
    volume: 'v',
    state: 'running',
    pid: 1,
    host: 'h',
    startedAt: AT,
    endedAt: null,
    snapshotId: null,
    qrvId: null,
    destination: null,
    steps: [{ name: 'snapshot', state: 'started', startedAt: AT, endedAt: null, detail: null }],
    warnings: [],
    error: null,
    progress: null,
    resumes: null,
  };
}

function catalog(): CatalogData {
  const data = emptyCatalog();
  data.snapshots.push(snapshot('a'), snapshot('b'), snapshot('c'));
  data.jobs.push(job('j-1'));
  return data;
}

/** Runs `change` on a draft of a fresh catalog; returns the catalog, a frozen-in-time copy of it, the new one and the delta. */
function run(change: (draft: CatalogData) => void) {
  const data = catalog();
  const before = JSON.stringify(data);
  const tracker = new Tracker(data);
  change(tracker.draft);
  tracker.settle();
  return { data, unchanged: JSON.stringify(data) === before, next: tracker.next, delta: tracker.delta() };
}

t.test('reading changes nothing and copies nothing', async (t) => {
  const { data, unchanged, next, delta } = run((d) => {
    t.equal(d.snapshots.filter((s) => s.state === 'ready').length, 3);
    t.same(Object.keys(d.snapshots[0] as object).slice(0, 2), ['id', 'volume']);
    t.equal(JSON.parse(JSON.stringify(d.jobs))[0].steps[0].name, 'snapshot');
  });
  t.ok(unchanged);
  t.same(delta, { put: {}, drop: {} });
  t.equal(next.snapshots, data.snapshots, 'the same arrays');
});

t.test('a write into a row copies that row only; the read catalog keeps the old value', async (t) => {
  const { data, unchanged, next, delta } = run((d) => {
    const b = d.snapshots.find((s) => s.id === 'b') as Snapshot;
    b.label = 'x';
    t.equal(b.label, 'x', 'the draft reads its own write');
    t.equal(d.snapshots[1]?.label, 'x', 'through any path');
    const steps = (d.jobs[0] as Job).steps;
    steps.push({ name: 'copy', state: 'started', startedAt: AT, endedAt: null, detail: null });
    (steps[0] as Job['steps'][number]).state = 'done';
    t.equal(steps.length, 2);
  });
  t.ok(unchanged, 'the read catalog is as it was');
  t.equal(data.snapshots[1]?.label, null);
  t.same(
    delta?.put.snapshots?.map((s) => s.id),
    ['b'],
  );
  t.same(
    (delta?.put.jobs?.[0] as Job).steps.map((s) => `${s.name}:${s.state}`),
    ['snapshot:done', 'copy:started'],
  );
  t.equal(next.snapshots[0], data.snapshots[0], 'rows nothing wrote are shared');
  t.not(next.snapshots[1], data.snapshots[1]);
  t.notOk(types.isProxy(next.jobs[0]), 'the new catalog holds no proxies');
});

t.test('rows put, taken out, replaced; new rows built from old ones', async (t) => {
  const { unchanged, next, delta } = run((d) => {
    d.snapshots = d.snapshots.filter((s) => s.id !== 'a');
    const c = d.snapshots.find((s) => s.id === 'c') as Snapshot;
    d.snapshots.push({ ...c, id: 'd', objects: c.objects });
    c.pinned = true;
    d.jobs[0] = { ...(d.jobs[0] as Job), state: 'succeeded' };
  });
  t.ok(unchanged);
  t.same(
    next.snapshots.map((s) => `${s.id}:${s.pinned}`),
    ['b:false', 'c:true', 'd:false'],
  );
  t.same(delta?.drop, { snapshots: ['a'] });
  t.same(
    delta?.put.snapshots?.map((s) => s.id),
    ['c', 'd'],
  );
  t.equal(delta?.put.jobs?.[0]?.state, 'succeeded');
  t.notOk(types.isProxy(next.snapshots[2]?.objects), 'an object taken from a draft row is stored plain');
});

t.test('rows changed where they are and rows appended (the one-walk case)', async (t) => {
  const { unchanged, next, delta } = run((d) => {
    (d.snapshots[1] as Snapshot).label = 'x';
    d.snapshots[2] = { ...(d.snapshots[2] as Snapshot), pinned: true };
    d.snapshots.push(snapshot('z'), snapshot('y'));
  });
  t.ok(unchanged);
  t.same(
    delta?.put.snapshots?.map((s) => s.id),
    ['b', 'c', 'z', 'y'],
  );
  t.same(delta?.drop, {});
  t.same(
    next.snapshots.map((s) => s.id),
    ['a', 'b', 'c', 'z', 'y'],
  );
  t.equal(run((d) => void d.snapshots.push(snapshot('z'), snapshot('z'))).delta, null, 'two new rows of one key');
});

t.test('rows changed where they are and rows taken out, in one walk (a batch of a prune)', async (t) => {
  const { next, delta } = run((d) => {
    (d.snapshots[0] as Snapshot).state = 'removing';
    d.snapshots = d.snapshots.filter((s) => s.id !== 'b');
  });
  t.same(
    next.snapshots.map((s) => `${s.id}:${s.state}`),
    ['a:removing', 'c:ready'],
  );
  t.same(
    delta?.put.snapshots?.map((s) => s.id),
    ['a'],
  );
  t.same(delta?.drop, { snapshots: ['b'] });
  const swapped = run((d) => {
    d.snapshots = [d.snapshots[2] as Snapshot, d.snapshots[0] as Snapshot];
  });
  t.equal(swapped.delta, null, 'a row taken out and two reordered is not a delta');
  const renamed = run((d) => {
    d.snapshots = d.snapshots.filter((s) => s.id !== 'a');
    d.snapshots.push(snapshot('a'));
  });
  t.equal(renamed.delta, null, 'a key taken out and put back at the end is a reorder');
});

t.test('positionsWhere finds rows without a proxy for each, and writes through them are tracked', async (t) => {
  const { data, unchanged, next, delta } = run((d) => {
    const found = positionsWhere(d.snapshots, (s) => {
      t.notOk(types.isProxy(s), 'the test reads the rows themselves');
      return s.id !== 'a';
    });
    t.same(found, [1, 2]);
    for (const at of found) (d.snapshots[at] as Snapshot).label = 'y';
    t.same(
      positionsWhere(d.snapshots, (s) => s.label === 'y'),
      [1, 2],
      'what the change wrote, seen by the next look',
    );
    d.snapshots[0] = { ...snapshot('a'), label: 'z' };
    t.same(
      positionsWhere(d.snapshots, (s) => s.label === 'z'),
      [0],
      'and a row it replaced',
    );
  });
  t.ok(unchanged);
  t.equal(data.snapshots[1]?.label, null);
  t.same(
    next.snapshots.map((s) => s.label),
    ['z', 'y', 'y'],
  );
  t.same(
    delta?.put.snapshots?.map((s) => s.id),
    ['a', 'b', 'c'],
  );
  t.same(
    positionsWhere([1, 2, 3], (n) => n > 1),
    [1, 2],
    'any array',
  );
});

t.test('what is not a delta: a reorder, a key twice; settings', async (t) => {
  t.equal(run((d) => void d.snapshots.reverse()).delta, null, 'a reorder');
  t.equal(
    run((d) => void d.snapshots.sort((x, y) => y.id.localeCompare(x.id))).unchanged,
    true,
    'and the read catalog is not reordered',
  );
  t.equal(run((d) => void d.snapshots.push({ ...(d.snapshots[0] as Snapshot) })).delta, null, 'a key twice');
  const settings = run((d) => void d.settings.discovery.push('/srv/*.img'));
  t.ok(settings.unchanged);
  t.same(settings.delta?.settings?.discovery, ['/srv/*.img']);
  t.throws(() => run((d) => void ((d as unknown as Record<string, number>).schemaVersion = 1)), /cannot be changed/);
});

t.test('a change that throws leaves the read catalog as it was', async (t) => {
  const data = catalog();
  const before = JSON.stringify(data);
  const tracker = new Tracker(data);
  t.throws(() => {
    (tracker.draft.snapshots[0] as Snapshot).label = 'half';
    tracker.draft.snapshots.splice(1, 1);
    throw new Error('failed');
  });
  t.equal(JSON.stringify(data), before);
});
