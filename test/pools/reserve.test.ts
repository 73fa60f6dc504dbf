// Reserving and giving back pool members on in-memory catalog data, as the copy phase and
// `qrv remove` do inside one Catalog.update transaction.
import t, { type Test } from 'tap';
import { emptyCatalog, catalogSchema, type CatalogData, type PoolMember, type Qrv } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { findPool, heldView, isHeld, releaseMember, reserveMember } from '../../src/pools/reserve.ts';

const GiB = 1024 ** 3;
const AT = '2025-01-01T00:00:00.000Z';

function member(path: string, capacityBytes: number, extra: Partial<PoolMember> = {}): PoolMember {
  return { path, kind: 'file', capacityBytes, capacityFrom: 'given', qrvId: null, volume: null, addedAt: AT, ...extra };
}

function qrvRow(id: string, volume: string, destination: string, state: Qrv['state'] = 'ready'): Qrv {
  return {
    id,
    volume,
    snapshotId: 's-00000001',
    destination,
    destinationKind: 'file',
    state,
    sizeBytes: GiB,
    blockSize: 65536,
    checksum: null,
    ledger: null,
    createdAt: AT,
    updatedAt: AT,
    history: [],
    pool: 'p',
    lastVerify: null,
  };
}

function catalog(...members: PoolMember[]): CatalogData {
  const data = emptyCatalog();
  data.pools.push(
    { name: 'p', members, createdAt: AT },
    { name: 'other', members: [member('/o/1', 100 * GiB)], createdAt: AT },
  );
  return data;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function refusedWith(t: Test, error: unknown, exit: string, code: string, message: RegExp): void {
  t.ok(error instanceof QrvError, `a QrvError (got ${String(error)})`);
  t.match(error, { exit, code, message });
  t.ok((error as QrvError).hint, 'with a hint');
}

t.test('reserve takes the best fit and marks it with the QRV and its volume', async (t) => {
  const data = catalog(member('/p/big', 10 * GiB), member('/p/fit', 2 * GiB), member('/p/small', GiB));
  const taken = reserveMember(data, 'p', 'web', 1.5 * GiB, 'q-00000001');
  t.equal(taken.path, '/p/fit');
  t.match(
    findPool(data, 'p').members.find((m) => m.path === '/p/fit'),
    { qrvId: 'q-00000001', volume: 'web' },
    'the row in data is the one changed',
  );
  t.equal(taken, findPool(data, 'p').members[1], 'returns the member object of data');
  t.ok(catalogSchema.safeParse(data).success, 'still a valid catalog');

  const next = reserveMember(data, 'p', 'db', 1.5 * GiB, 'q-00000002');
  t.equal(next.path, '/p/big', 'another volume does not get the reserved member');
  t.same(findPool(data, 'other').members[0], member('/o/1', 100 * GiB), 'other pools untouched');
});

t.test('a volume that holds a member of the pool gets the same member back', async (t) => {
  const data = catalog(member('/p/a', 2 * GiB, { qrvId: 'q-00000001', volume: 'web' }), member('/p/b', 2 * GiB));
  data.qrvs.push(qrvRow('q-00000001', 'web', '/p/a'));
  const again = reserveMember(data, 'p', 'web', 2 * GiB, 'q-0000000f');
  t.equal(again.path, '/p/a', 'reused, not a new member');
  t.equal(again.qrvId, 'q-00000001', 'still the existing QRV: the copy updates it');
  t.equal(findPool(data, 'p').members[1]?.qrvId, null, 'the other member stays free');

  const failed = catalog(member('/p/a', 2 * GiB, { qrvId: 'q-00000001', volume: 'web' }), member('/p/b', 2 * GiB));
  failed.qrvs.push(qrvRow('q-00000001', 'web', '/p/a', 'failed'));
  t.equal(
    reserveMember(failed, 'p', 'web', GiB, 'q-0000000f').path,
    '/p/a',
    'a failed QRV still holds its member for its volume',
  );

  const same = catalog(member('/p/a', 2 * GiB), member('/p/b', 3 * GiB));
  const first = reserveMember(same, 'p', 'web', GiB, 'q-00000001');
  t.equal(
    reserveMember(same, 'p', 'web', GiB, 'q-00000001'),
    first,
    'reserving twice for one QRV (row not written yet) is the same member',
  );
});

t.test('the reused member is refused when the QRV no longer fits in it', async (t) => {
  const data = catalog(member('/p/a', 2 * GiB, { qrvId: 'q-00000001', volume: 'web' }), member('/p/big', 50 * GiB));
  data.qrvs.push(qrvRow('q-00000001', 'web', '/p/a'));
  const before = structuredClone(data);
  refusedWith(
    t,
    errorOf(() => reserveMember(data, 'p', 'web', 3 * GiB, 'q-0000000f')),
    'refused',
    'pool-member-too-small',
    /member \/p\/a holds QRV q-00000001 of "web" but has room for 2\.00 GiB and the QRV now needs 3\.00 GiB/,
  );
  t.same(data, before, 'nothing changed');
});

t.test('nothing fits: pool-no-fit names the pool, the size and the largest free member', async (t) => {
  const data = catalog(
    member('/p/a', GiB),
    member('/p/b', 2 * GiB),
    member('/p/held', 90 * GiB, { qrvId: 'q-00000009', volume: 'x' }),
  );
  data.qrvs.push(qrvRow('q-00000009', 'x', '/p/held'));
  const before = structuredClone(data);
  const error = errorOf(() => reserveMember(data, 'p', 'web', 3 * GiB, 'q-00000001'));
  refusedWith(
    t,
    error,
    'refused',
    'pool-no-fit',
    /^pool "p" has no free member with room for 3\.00 GiB: the largest free member is \/p\/b with 2\.00 GiB$/,
  );
  t.match((error as QrvError).hint, /qrv pool member add p PATH/);
  t.same(data, before, 'nothing changed');

  const full = catalog(member('/p/held', 90 * GiB, { qrvId: 'q-00000009', volume: 'x' }));
  full.qrvs.push(qrvRow('q-00000009', 'x', '/p/held'));
  refusedWith(
    t,
    errorOf(() => reserveMember(full, 'p', 'web', 1, 'q-00000001')),
    'refused',
    'pool-no-fit',
    /has no free member with room for 1 B: it has no free member: all 1 hold QRVs/,
  );
  refusedWith(
    t,
    errorOf(() => reserveMember(catalog(), 'p', 'web', 1, 'q-00000001')),
    'refused',
    'pool-no-fit',
    /it has no members/,
  );
});

t.test('an unknown pool is unknown-pool (notFound), naming the known ones', async (t) => {
  refusedWith(
    t,
    errorOf(() => reserveMember(catalog(), 'nope', 'web', 1, 'q-00000001')),
    'notFound',
    'unknown-pool',
    /no pool named "nope"/,
  );
  t.match((errorOf(() => findPool(catalog(), 'nope')) as QrvError).hint, /known pools: p, other/);
  t.match((errorOf(() => findPool(emptyCatalog(), 'nope')) as QrvError).hint, /qrv pool add/);
});

t.test('release frees the member a QRV holds; best fit can pick it again', async (t) => {
  const data = catalog(member('/p/a', 2 * GiB), member('/p/b', 5 * GiB));
  reserveMember(data, 'p', 'web', GiB, 'q-00000001');
  data.qrvs.push(qrvRow('q-00000001', 'web', '/p/a'));
  const released = releaseMember(data, 'q-00000001');
  t.equal(released?.pool, 'p');
  t.match(released?.member, { path: '/p/a', qrvId: null, volume: null });
  t.ok(
    findPool(data, 'p').members.every((m) => m.qrvId === null && m.volume === null),
    'all free again',
  );
  t.equal(releaseMember(data, 'q-00000001'), null, 'a second release finds nothing');
  t.equal(releaseMember(data, 'q-0000dead'), null, 'a QRV that holds nothing');
  t.equal(reserveMember(data, 'p', 'db', GiB, 'q-00000002').path, '/p/a', 'taken again by another volume');
});

t.test('a member whose QRV was removed without a release counts as free', async (t) => {
  const data = catalog(member('/p/a', 2 * GiB, { qrvId: 'q-00000001', volume: 'web' }), member('/p/b', 5 * GiB));
  data.qrvs.push(qrvRow('q-00000001', 'web', '/p/a', 'removed'));
  t.notOk(isHeld(data, findPool(data, 'p').members[0]!), 'not held');
  t.equal(heldView(data, findPool(data, 'p')).members[0]?.qrvId, null, 'seen as free');
  t.equal(findPool(data, 'p').members[0]?.qrvId, 'q-00000001', 'without changing the data');
  const taken = reserveMember(data, 'p', 'db', GiB, 'q-00000002');
  t.match(taken, { path: '/p/a', qrvId: 'q-00000002', volume: 'db' });
  const unwritten = catalog(member('/p/a', 2 * GiB, { qrvId: 'q-00000003', volume: 'web' }));
  t.ok(
    isHeld(unwritten, findPool(unwritten, 'p').members[0]!),
    'a reservation whose QRV row is not written yet still holds',
  );
});
