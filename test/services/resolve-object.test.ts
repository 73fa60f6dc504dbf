// resolveObjectAt: which snapshot group holds an application object as of a time, read from
// which copy of each volume, and why the other groups were passed over. Pure: hand-built
// catalogs (a cluster on pgdata and pgwal), a fixed time.
import t from 'tap';
import { emptyCatalog, type CatalogData } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { chooseObjectAt, objectResolutionLines, resolveObjectAt } from '../../src/services/resolve-object.ts';
import { qrvRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';
import { pgObject } from '../helpers/object-rows.ts';

const T = new Date('2026-12-04T12:00:00Z');
const at = (hhmm: string) => `2026-12-04T${hhmm}:00.000Z`;
const BILLING = 'postgresql:main/billing';

/** Both volumes of the cluster snapshotted in group `g` at `hhmm`, holding billing (and `more`). */
function group(data: CatalogData, g: string, hhmm: string, position: string, more: string[] = []) {
  const objects = [pgObject('billing', position), ...more.map((name) => pgObject(name, position))];
  data.snapshots.push(
    snapshotRow('pgdata', at(hhmm), { id: `s-${g}0d`, groupId: `g-${g}`, objects }),
    snapshotRow('pgwal', at(hhmm), { id: `s-${g}0w`, groupId: `g-${g}`, objects }),
  );
}

function catalog(fill: (data: CatalogData) => void): CatalogData {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('pgdata'), volumeRow('pgwal'), volumeRow('web'));
  fill(data);
  return data;
}

const reasonOf = (r: ReturnType<typeof resolveObjectAt>, g: string) =>
  r.passedOver.find((p) => p.groupId === `g-${g}`)?.reason;

t.test('the newest group at or before T; newer ones too new, older ones older', async (t) => {
  const data = catalog((d) => {
    group(d, '000009', '09:00', '0/1000028');
    group(d, '000011', '11:00', '0/2000028');
    group(d, '000012', '12:00', '0/3000028'); // exactly T: counts
    group(d, '000013', '13:00', '0/4000028');
    d.snapshots.push(snapshotRow('web', at('11:30'), { id: 's-0000web1', groupId: 'g-0000web1' }));
  });
  const r = resolveObjectAt(data, BILLING, T);
  t.equal(r.object, BILLING);
  t.equal(r.asOf, T.toISOString());
  t.match(r.chosen, { groupId: 'g-000012', pointInTime: at('12:00'), record: { position: '0/3000028' } });
  t.same(
    r.chosen?.copies,
    [
      { volume: 'pgdata', snapshotId: 's-0000120d', id: 's-0000120d', kind: 'snapshot' },
      { volume: 'pgwal', snapshotId: 's-0000120w', id: 's-0000120w', kind: 'snapshot' },
    ],
    'a copy of every volume of the group, by volume',
  );
  t.equal(reasonOf(r, '000013'), 'too new (taken 2026-12-04 13:00:00Z)');
  t.equal(reasonOf(r, '000011'), 'older than g-000012');
  t.equal(reasonOf(r, '000009'), 'older than g-000012');
  t.notOk(reasonOf(r, '0000web1'), 'a group without the object is not judged');
  t.same(
    r.passedOver.map((p) => p.groupId),
    ['g-000013', 'g-000011', 'g-000009'],
    'newest first',
  );
  t.match(
    objectResolutionLines(r)[0],
    /^postgresql:main\/billing as of 2026-12-04 12:00:00Z: group g-000012 of 2026-12-04 12:00:00Z \(0\/3000028\): pgdata from s-0000120d, pgwal from s-0000120w$/,
  );

  const other = resolveObjectAt(data, 'postgresql:main/shop', T);
  t.equal(other.chosen, null, 'an object no snapshot recorded');
  t.same(other.passedOver, []);
});

t.test('a group whose pgwal snapshot was removed is still usable through a ready QRV that reflects it', async (t) => {
  const data = catalog((d) => {
    group(d, '000009', '09:00', '0/1000028');
    group(d, '000011', '11:00', '0/2000028');
    const wal = d.snapshots.find((s) => s.id === 's-0000110w');
    Object.assign(wal ?? {}, { state: 'removed', removedAt: at('11:05'), copiedTo: 'q-0000000w' });
    d.qrvs.push(
      qrvRow('pgwal', at('11:05'), { id: 'q-0000000w', snapshotId: 's-0000110w', objects: [pgObject('billing')] }),
    );
  });
  const r = resolveObjectAt(data, BILLING, T);
  t.equal(r.chosen?.groupId, 'g-000011');
  t.same(
    r.chosen?.copies.map((c) => [c.volume, c.id, c.kind]),
    [
      ['pgdata', 's-0000110d', 'snapshot'],
      ['pgwal', 'q-0000000w', 'qrv'],
    ],
  );
});

t.test('a group whose QRV moved on to a newer snapshot is passed over with the reason', async (t) => {
  const data = catalog((d) => {
    group(d, '000009', '09:00', '0/1000028');
    group(d, '000011', '11:00', '0/2000028');
    group(d, '000013', '13:00', '0/4000028');
    // The QRV of pgwal reflected s-0000110w, whose snapshot was then removed; it now reflects 13:00's.
    const wal = d.snapshots.find((s) => s.id === 's-0000110w');
    Object.assign(wal ?? {}, { state: 'removed', removedAt: at('11:05') });
    d.qrvs.push(qrvRow('pgwal', at('13:05'), { id: 'q-0000000w', snapshotId: 's-0000130w' }));
  });
  const r = resolveObjectAt(data, BILLING, T);
  t.equal(r.chosen?.groupId, 'g-000009', 'the next older group whose every volume has a copy');
  t.equal(reasonOf(r, '000011'), 'pgwal: snapshot s-0000110w is removed and no ready QRV reflects it');
  t.equal(reasonOf(r, '000013'), 'too new (taken 2026-12-04 13:00:00Z)');
  t.same(
    objectResolutionLines(r).slice(1),
    [
      'passed over:',
      '  g-000013  too new (taken 2026-12-04 13:00:00Z)',
      '  g-000011  pgwal: snapshot s-0000110w is removed and no ready QRV reflects it',
    ],
    'passed over, in the plain lines',
  );
});

t.test('failed and unfinished snapshots are no copies; a failing QRV is none either', async (t) => {
  const data = catalog((d) => {
    group(d, '000009', '09:00', '0/1000028');
    group(d, '000010', '10:00', '0/1800028');
    group(d, '000011', '11:00', '0/2000028');
    for (const s of d.snapshots) if (s.groupId === 'g-000011') s.state = 'failed';
    const wal = d.snapshots.find((s) => s.id === 's-0000100w');
    Object.assign(wal ?? {}, { state: 'removed', removedAt: at('10:05') });
    d.qrvs.push(
      qrvRow('pgwal', at('10:05'), {
        id: 'q-0000000w',
        snapshotId: 's-0000100w',
        lastVerify: { at: at('10:30'), ok: false } as never,
      }),
    );
  });
  const r = resolveObjectAt(data, BILLING, T);
  t.notOk(reasonOf(r, '000011'), 'a failed group is not judged');
  t.match(reasonOf(r, '000010'), /^pgwal: snapshot s-0000100w is removed and no ready QRV reflects it$/);
  t.equal(r.chosen?.groupId, 'g-000009');
});

t.test('nothing holds it at that time: the nothing-at-time error, with why', async (t) => {
  const data = catalog((d) => group(d, '000013', '13:00', '0/4000028'));
  t.throws(
    () => chooseObjectAt(data, BILLING, T.toISOString(), T),
    {
      code: 'nothing-at-time',
      message:
        'no copy holds postgresql:main/billing as of 2026-12-04 12:00:00Z: g-000013 too new (taken 2026-12-04 13:00:00Z)',
    },
    'too new',
  );
  const empty = catalog(() => {});
  try {
    chooseObjectAt(empty, BILLING, T.toISOString(), T);
    t.fail('no snapshot records it');
  } catch (error) {
    t.ok(error instanceof QrvError);
    t.match(error, {
      code: 'nothing-at-time',
      message: /: no snapshot has recorded it \(is it named by a sub-client with --object\?\)$/,
      hint: /qrv list --object ID/,
    });
  }
  t.equal(chooseObjectAt(data, BILLING, '2026-12-04T14:00:00Z', T).chosen.groupId, 'g-000013', 'a later time finds it');
});
