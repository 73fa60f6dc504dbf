import t from 'tap';
import { emptyCatalog, type CatalogData, type Policy, type Snapshot } from '../../src/catalog/schema.ts';
import { dueCopies, dueGroups } from '../../src/services/cron.ts';

function policy(extra: Partial<Policy>): Policy {
  return {
    name: 'p',
    persist: null,
    copy: 'now',
    unsnap: 'after-copy',
    dest: '/q',
    keep: null,
    schedule: null,
    incremental: false,
    hooks: {},
    hookTimeout: null,
    createdAt: '2026-11-25T00:00:00Z',
    updatedAt: '2026-11-25T00:00:00Z',
    ...extra,
  };
}
function snapshot(id: string, volume: string, createdAt: string, extra: Partial<Snapshot> = {}): Snapshot {
  return {
    id,
    volume,
    subclient: 'sc',
    provider: 'file',
    handle: 'h',
    path: 'p',
    createdAt,
    persistUntil: null,
    label: null,
    pinned: false,
    state: 'ready',
    sizeBytes: 1,
    groupId: 'g',
    method: 'reflink',
    quiesce: 'none',
    suspendedMs: 0,
    objects: [],
    jobId: 'j',
    removedAt: null,
    policy: 'p',
    copiedTo: null,
    consistency: 'atomic',
    copyRate: null,
    ...extra,
  };
}
function data(p: Policy, snapshots: Snapshot[] = []): CatalogData {
  const d = emptyCatalog();
  d.policies.push(p);
  d.volumes.push({
    name: 'a',
    provider: 'file',
    path: '/a.img',
    options: {},
    sizeBytes: 1,
    addedAt: '2026-11-25T00:00:00Z',
    policy: null,
    discovered: false,
  });
  d.subclients.push({ name: 'sc', volumes: ['a'], policy: p.name, createdAt: '2026-11-25T00:00:00Z' });
  d.snapshots.push(...snapshots);
  return d;
}

t.test('a sub-client is due once a scheduled time passed since its newest snapshot (or its creation)', async (t) => {
  const hourly = policy({ schedule: '0 * * * *' });
  t.same(dueGroups(data(hourly), new Date('2026-11-25T00:59:59Z')), [], 'not before the first hour');
  t.same(
    dueGroups(data(hourly), new Date('2026-11-25T01:00:00Z')).map((g) => g.label),
    ['sub-client sc'],
  );
  const after = data(hourly, [snapshot('s-1', 'a', '2026-11-25T01:00:05Z')]);
  t.same(dueGroups(after, new Date('2026-11-25T01:59:00Z')), [], 'taken this hour already: idempotent');
  t.equal(dueGroups(after, new Date('2026-11-25T02:00:00Z')).length, 1);
  t.same(dueGroups(data(policy({})), new Date('2030-01-01T00:00:00Z')), [], 'no schedule, never due');
});

t.test('copies due by the policy, oldest first', async (t) => {
  const snaps = [
    snapshot('s-1', 'a', '2026-11-25T01:00:00Z'),
    snapshot('s-2', 'a', '2026-11-25T02:00:00Z'),
    snapshot('s-3', 'a', '2026-11-25T03:00:00Z'),
  ];
  const at = new Date('2026-11-25T03:30:00Z');
  t.same(
    dueCopies(data(policy({ copy: 'now' }), snaps), at).map((s) => s.id),
    ['s-1', 's-2', 's-3'],
  );
  t.same(
    dueCopies(data(policy({ copy: 'after:1h' }), snaps), at).map((s) => s.id),
    ['s-1', 's-2'],
  );
  t.same(
    dueCopies(data(policy({ copy: 'oldest:2' }), snaps), at).map((s) => s.id),
    ['s-1'],
    'keep the newest two, copy what falls out',
  );
  t.same(dueCopies(data(policy({ copy: 'never' }), snaps), at), []);
  t.same(dueCopies(data(policy({ dest: null }), snaps), at), [], 'no destination, no copy');
  const copied = snaps.map((s) => ({ ...s, copiedTo: 'q-1' }));
  t.same(dueCopies(data(policy({}), copied), at), [], 'already copied');
});
