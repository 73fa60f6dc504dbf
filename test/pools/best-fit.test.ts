// Best fit over a pool's members: smallest capacity that holds the QRV, ties by addedAt then path.
import t from 'tap';
import type { Pool, PoolMember } from '../../src/catalog/schema.ts';
import { freeMembers, largestFree, pickMember } from '../../src/pools/best-fit.ts';

const GiB = 1024 ** 3;

function member(path: string, capacityBytes: number, extra: Partial<PoolMember> = {}): PoolMember {
  return {
    path,
    kind: 'file',
    capacityBytes,
    capacityFrom: 'given',
    qrvId: null,
    volume: null,
    addedAt: '2025-01-01T00:00:00.000Z',
    ...extra,
  };
}

function pool(...members: PoolMember[]): Pool {
  return { name: 'p', members, createdAt: '2025-01-01T00:00:00.000Z' };
}

t.test('picks the smallest member that holds what is needed', async (t) => {
  const p = pool(member('/a', 10 * GiB), member('/b', 3 * GiB), member('/c', 5 * GiB), member('/d', 1 * GiB));
  t.equal(pickMember(p, 4 * GiB)?.path, '/c');
  t.equal(pickMember(p, 2 * GiB)?.path, '/b');
  t.equal(pickMember(p, 1)?.path, '/d');
  t.equal(pickMember(p, 0)?.path, '/d', 'nothing needed: still the smallest');
});

t.test('an exact fit is taken', async (t) => {
  const p = pool(member('/a', 6 * GiB), member('/b', 5 * GiB));
  t.equal(pickMember(p, 5 * GiB)?.path, '/b');
  t.equal(pickMember(p, 5 * GiB + 1)?.path, '/a', 'one byte more goes to the next size');
});

t.test('nothing fits: null', async (t) => {
  t.equal(pickMember(pool(member('/a', GiB), member('/b', 2 * GiB)), 2 * GiB + 1), null);
  t.equal(pickMember(pool(), 1), null, 'empty pool');
});

t.test('members that hold a QRV are skipped, however well they fit', async (t) => {
  const p = pool(
    member('/exact', 4 * GiB, { qrvId: 'q-00000001', volume: 'v' }),
    member('/big', 8 * GiB),
    member('/small', GiB),
  );
  t.equal(pickMember(p, 4 * GiB)?.path, '/big');
  t.same(
    freeMembers(p).map((m) => m.path),
    ['/big', '/small'],
  );
  t.equal(pickMember(pool(member('/x', 9 * GiB, { qrvId: 'q-1', volume: 'v' })), 1), null, 'all held: null');
});

t.test('equal capacities: the earliest added, then the first path', async (t) => {
  const early = '2025-01-01T00:00:00.000Z';
  const late = '2025-06-01T00:00:00.000Z';
  const p = pool(
    member('/z', 2 * GiB, { addedAt: late }),
    member('/y', 2 * GiB, { addedAt: early }),
    member('/x', 2 * GiB, { addedAt: late }),
  );
  t.equal(pickMember(p, GiB)?.path, '/y', 'earliest addedAt');
  const same = pool(member('/m/2', 2 * GiB), member('/m/10', 2 * GiB), member('/m/1', 2 * GiB));
  t.equal(pickMember(same, GiB)?.path, '/m/1', 'then the path, as a string');
  t.equal(pickMember(pool(...[...same.members].reverse()), GiB)?.path, '/m/1', 'whatever the order in the catalog');
  const offsets = pool(
    member('/late', GiB, { addedAt: '2025-01-01T01:00:00.000+01:00' }),
    member('/early', GiB, { addedAt: '2025-01-01T00:30:00.000Z' }),
  );
  t.equal(pickMember(offsets, 1)?.path, '/late', 'times compared as instants, not strings');
});

t.test('does not change the pool', async (t) => {
  const p = pool(member('/a', GiB), member('/b', 2 * GiB));
  const before = structuredClone(p);
  pickMember(p, 1);
  largestFree(p);
  t.same(p, before);
});

t.test('largestFree: the free member with the most room', async (t) => {
  const p = pool(
    member('/a', GiB),
    member('/held', 9 * GiB, { qrvId: 'q-1', volume: 'v' }),
    member('/b', 3 * GiB),
    member('/c', 3 * GiB, { addedAt: '2024-01-01T00:00:00.000Z' }),
  );
  t.equal(largestFree(p)?.path, '/c', 'largest, ties by the earliest added');
  t.equal(largestFree(pool(member('/h', GiB, { qrvId: 'q-1', volume: 'v' }))), null);
  t.equal(largestFree(pool()), null);
});
