import t from 'tap';
import { emptyCatalog, type CatalogData, type Snapshot } from '../../src/catalog/schema.ts';
import { incrementalBases, selectPrunable } from '../../src/prune/select.ts';

const now = new Date('2026-11-25T12:00:00Z');
let n = 0;
function snap(volume: string, createdAt: string, extra: Partial<Snapshot> = {}): Snapshot {
  n += 1;
  return {
    id: `s-${String(n).padStart(8, '0')}`,
    volume,
    subclient: null,
    provider: 'file',
    handle: 'h',
    path: 'p',
    createdAt,
    persistUntil: null,
    label: null,
    pinned: false,
    state: 'ready',
    sizeBytes: 1,
    groupId: 'g-1',
    method: 'reflink',
    quiesce: 'none',
    suspendedMs: 1,
    objects: [],
    jobId: 'j-1',
    removedAt: null,
    policy: null,
    copiedTo: null,
    consistency: 'atomic',
    copyRate: null,
    ...extra,
  };
}
function catalog(snapshots: Snapshot[]): CatalogData {
  return { ...emptyCatalog(), snapshots };
}
const ids = (choices: { snapshot: Snapshot }[]) => choices.map((c) => c.snapshot.id);

t.test('lapsed persistence goes, at the instant it lapses and not a millisecond before', async (t) => {
  const lapsed = snap('a', '2026-11-20T00:00:00Z', { persistUntil: '2026-11-25T12:00:00.000Z' });
  const soon = snap('a', '2026-11-21T00:00:00Z', { persistUntil: '2026-11-25T12:00:00.001Z' });
  const forever = snap('a', '2026-11-22T00:00:00Z');
  const { remove } = selectPrunable(catalog([lapsed, soon, forever]), now);
  t.same(ids(remove), [lapsed.id]);
  t.match(remove[0]?.reason, /persistence lapsed/);
});

t.test('keep N keeps the newest N of each volume', async (t) => {
  const a = [1, 2, 3, 4].map((d) => snap('a', `2026-11-0${d}T00:00:00Z`));
  const b = [1, 2].map((d) => snap('b', `2026-11-0${d}T00:00:00Z`));
  const { remove } = selectPrunable(catalog([...a, ...b]), now, { keep: 2 });
  t.same(ids(remove), [a[0]!.id, a[1]!.id], 'the two oldest of a; b has only two');
  const perVolume = selectPrunable(catalog([...a, ...b]), now, { keepOf: (v) => (v === 'b' ? 1 : null) });
  t.same(ids(perVolume.remove), [b[0]!.id], "each volume's own policy keep");
});

t.test('never a pinned snapshot, an incremental base, or one a running job uses; never one not ready', async (t) => {
  const old = '2026-11-01T00:00:00Z';
  const lapsed = { persistUntil: '2026-11-02T00:00:00Z' };
  const pinned = snap('a', old, { ...lapsed, pinned: true });
  const base = snap('a', old, { ...lapsed, policy: 'inc' });
  const busy = snap('a', old, lapsed);
  const removed = snap('a', old, { ...lapsed, state: 'removed' });
  const failed = snap('a', old, { ...lapsed, state: 'failed' });
  const plain = snap('a', old, lapsed);
  const data = catalog([pinned, base, busy, removed, failed, plain]);
  data.qrvs.push({
    id: 'q-1',
    volume: 'a',
    snapshotId: base.id,
    destination: '/q',
    destinationKind: 'file',
    state: 'ready',
    sizeBytes: 1,
    blockSize: 65536,
    checksum: null,
    ledger: '/q.ledger',
    createdAt: old,
    updatedAt: old,
    history: [],
    pool: null,
    lastVerify: null,
  });
  t.same([...incrementalBases(data)], [], 'a QRV whose policy rewrites it in full needs no base');
  data.policies.push({
    name: 'inc',
    persist: null,
    copy: 'now',
    unsnap: 'after-copy',
    dest: '/q',
    keep: null,
    schedule: null,
    incremental: true,
    hooks: {},
    hookTimeout: null,
    createdAt: old,
    updatedAt: old,
  });
  t.same([...incrementalBases(data)], [base.id]);
  const { remove, kept } = selectPrunable(data, now, { busy: new Set([busy.id]) });
  t.same(ids(remove), [plain.id]);
  t.same(
    kept.map((k) => [k.snapshot.id, k.reason.split(' (')[0]]).sort(),
    [
      [pinned.id, 'pinned'],
      [base.id, 'base of an incremental QRV'],
      [busy.id, 'a running job uses it'],
    ].sort(),
  );
});
