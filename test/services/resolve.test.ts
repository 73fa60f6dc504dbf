// resolveAt: which copy holds a volume's state as of a time, and why the others were passed over.
// Pure: hand-built catalogs, a fixed time.
import t from 'tap';
import { emptyCatalog, type ArchiveRow, type CatalogData } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { nothingAtTime, resolveAt, resolutionLines, volumesOf } from '../../src/services/resolve.ts';
import { archiveRow, qrvRow, snapshotRow, subclientRow, volumeRow } from '../helpers/check-rows.ts';

const T = new Date('2026-11-30T18:00:00Z');
const iso = (hhmm: string, day = '2026-11-30') => `${day}T${hhmm}:00.000Z`;

function catalog(fill: (data: CatalogData) => void): CatalogData {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web'), volumeRow('db'));
  fill(data);
  return data;
}

const reasonOf = (r: ReturnType<typeof resolveAt>, id: string) => r.passedOver.find((p) => p.id === id)?.reason;

t.test('the newest ready snapshot at or before T; every other one with its reason', async (t) => {
  const data = catalog((d) => {
    d.snapshots.push(
      snapshotRow('web', iso('10:00'), { id: 's-00000001' }),
      snapshotRow('web', iso('17:00'), { id: 's-00000002' }),
      snapshotRow('web', iso('18:00'), { id: 's-00000003' }), // exactly T: valid
      snapshotRow('web', iso('18:00:01'.slice(0, 5)), { id: 's-00000004', createdAt: '2026-11-30T18:00:01.000Z' }),
      snapshotRow('web', iso('16:00'), { id: 's-00000005', state: 'removed', removedAt: iso('17:30') }),
      snapshotRow('web', iso('15:00'), { id: 's-00000006', state: 'removed', removedAt: iso('19:00') }),
      snapshotRow('web', iso('14:00'), { id: 's-00000007', state: 'failed' }),
      snapshotRow('web', iso('13:00'), { id: 's-00000008', state: 'creating' }),
      snapshotRow('db', iso('17:59'), { id: 's-000000d1' }),
    );
  });
  const r = resolveAt(data, 'web', T);
  t.match(
    r.chosen,
    { id: 's-00000003', kind: 'snapshot', pointInTime: iso('18:00') },
    'a snapshot taken exactly at T counts',
  );
  t.equal(r.asOf, T.toISOString());
  t.equal(r.volume, 'web');
  t.match(reasonOf(r, 's-00000004'), /^too new \(taken 2026-11-30 18:00:01Z\)$/);
  t.match(reasonOf(r, 's-00000005'), /^removed at 2026-11-30 17:30:00Z$/, 'removed before T');
  t.match(
    reasonOf(r, 's-00000006'),
    /^removed at 2026-11-30 19:00:00Z$/,
    'existed at T, but is gone now: cannot be read',
  );
  t.match(reasonOf(r, 's-00000007'), /^failed/);
  t.match(reasonOf(r, 's-00000008'), /^not ready \(creating\)$/);
  t.match(reasonOf(r, 's-00000002'), /^older than the chosen one \(taken 2026-11-30 17:00:00Z\)$/);
  t.match(reasonOf(r, 's-00000001'), /^older than the chosen one/);
  t.equal(r.passedOver.length, 7, 'every other snapshot of web, none of db');
  t.notOk(r.passedOver.some((p) => p.id === 's-000000d1'));
  t.same(
    r.passedOver.map((p) => p.pointInTime),
    [...r.passedOver.map((p) => p.pointInTime)].sort().reverse(),
    'newest first',
  );
});

t.test('a QRV stands for the snapshot it reflects, even a removed one', async (t) => {
  const data = catalog((d) => {
    d.snapshots.push(
      snapshotRow('web', iso('12:00'), {
        id: 's-00000011',
        state: 'removed',
        removedAt: iso('12:05'),
        copiedTo: 'q-00000011',
      }),
      snapshotRow('web', iso('09:00'), { id: 's-00000012' }),
      snapshotRow('web', iso('20:00'), { id: 's-00000013', state: 'removed', removedAt: iso('20:05') }),
    );
    d.qrvs.push(
      qrvRow('web', iso('12:05'), { id: 'q-00000011', snapshotId: 's-00000011' }),
      qrvRow('web', iso('20:05'), { id: 'q-00000012', snapshotId: 's-00000013' }),
      qrvRow('web', iso('12:05'), { id: 'q-00000013', snapshotId: 's-00000011', state: 'copying' }),
      qrvRow('web', iso('12:05'), { id: 'q-00000014', snapshotId: 's-00000011', state: 'failed' }),
      qrvRow('web', iso('12:05'), { id: 'q-00000015', snapshotId: 's-00000011', state: 'removed' }),
      qrvRow('web', iso('12:05'), {
        id: 'q-00000016',
        snapshotId: 's-00000011',
        lastVerify: { at: iso('13:00'), ok: false, badBlocks: 3, deep: false },
      }),
      qrvRow('web', iso('12:05'), { id: 'q-00000017', snapshotId: 's-0000dead' }),
      qrvRow('web', iso('12:05'), {
        id: 'q-00000018',
        snapshotId: 's-00000012',
        lastVerify: { at: iso('13:00'), ok: true, badBlocks: 0, deep: true },
      }),
    );
  });
  const r = resolveAt(data, 'web', T);
  t.match(
    r.chosen,
    { id: 'q-00000011', kind: 'qrv', pointInTime: iso('12:00') },
    'the QRV of 12:00 is newer than the 09:00 snapshot that still exists',
  );
  t.match(
    reasonOf(r, 'q-00000012'),
    /^too new \(reflects s-00000013 of 2026-11-30 20:00:00Z\)$/,
    'a QRV updated to a later snapshot no longer holds the state of T',
  );
  t.match(reasonOf(r, 'q-00000013'), /^not ready \(copying\)$/);
  t.match(reasonOf(r, 'q-00000014'), /^not ready \(failed\)$/);
  t.match(reasonOf(r, 'q-00000015'), /^not ready \(removed\)$/);
  t.match(reasonOf(r, 'q-00000016'), /^failed verify at 2026-11-30 13:00:00Z \(3 bad blocks\)$/);
  t.match(reasonOf(r, 'q-00000017'), /^point in time unknown \(it reflects s-0000dead/);
  t.match(reasonOf(r, 's-00000012'), /^older than the chosen one \(taken 2026-11-30 09:00:00Z\)$/);
  t.match(
    reasonOf(r, 'q-00000018'),
    /^older than the chosen one \(reflects s-00000012 of 2026-11-30 09:00:00Z\)$/,
    'a verified QRV is usable',
  );
  t.match(reasonOf(r, 's-00000011'), /^removed at/);

  const lines = resolutionLines(r);
  t.equal(lines[0], 'web as of 2026-11-30 18:00:00Z: q-00000011, a QRV holding the state of 2026-11-30 12:00:00Z');
  t.equal(lines[1], 'passed over:');
  t.equal(lines.length, 2 + r.passedOver.length);
});

t.test('at the same point in time the snapshot wins over its QRV', async (t) => {
  const data = catalog((d) => {
    d.snapshots.push(snapshotRow('web', iso('12:00'), { id: 's-00000021', copiedTo: 'q-00000021' }));
    d.qrvs.push(qrvRow('web', iso('12:05'), { id: 'q-00000021', snapshotId: 's-00000021' }));
  });
  const r = resolveAt(data, 'web', T);
  t.match(r.chosen, { id: 's-00000021', kind: 'snapshot', pointInTime: iso('12:00') });
  t.match(reasonOf(r, 'q-00000021'), /^same point in time as s-00000021, which is a snapshot/);
  // before the snapshot: nothing
  const before = resolveAt(data, 'web', new Date(iso('11:59')));
  t.equal(before.chosen, null);
  t.same(
    before.passedOver.map((p) => p.reason),
    ['too new (taken 2026-11-30 12:00:00Z)', 'too new (reflects s-00000021 of 2026-11-30 12:00:00Z)'],
  );
});

t.test('only one kind: a snapshot is passed over when only a QRV will do (promote --as-of)', async (t) => {
  const data = catalog((d) => {
    d.snapshots.push(snapshotRow('web', iso('11:00'), { id: 's-00000031', copiedTo: 'q-00000031' }));
    d.qrvs.push(qrvRow('web', iso('11:05'), { id: 'q-00000031', snapshotId: 's-00000031' }));
    d.snapshots.push(snapshotRow('web', iso('12:00'), { id: 's-00000032' }));
  });
  t.equal(resolveAt(data, 'web', T).chosen?.id, 's-00000032', 'any kind: the newest snapshot');
  const r = resolveAt(data, 'web', T, 'qrv');
  t.match(r.chosen, { id: 'q-00000031', kind: 'qrv', pointInTime: iso('11:00') });
  t.match(reasonOf(r, 's-00000032'), /^not a QRV/);
  t.match(reasonOf(r, 's-00000031'), /^not a QRV/);
  t.equal(resolveAt(data, 'web', new Date(iso('10:59')), 'qrv').chosen, null, "nothing before the QRV's point in time");
});

t.test('nothing at that time: one line that says why, exit 3 nothing-at-time', async (t) => {
  const empty = resolveAt(
    catalog(() => undefined),
    'web',
    T,
  );
  t.same(empty, { volume: 'web', asOf: T.toISOString(), chosen: null, passedOver: [] });
  const error = nothingAtTime(empty);
  t.ok(error instanceof QrvError);
  t.match(error, {
    exit: 'notFound',
    code: 'nothing-at-time',
    message: 'no snapshot or QRV holds web as of 2026-11-30 18:00:00Z: it has no snapshots or QRVs',
  });
  t.match(error.hint, /qrv list --volume web --all/);
  const data = catalog((d) => {
    for (let i = 1; i <= 5; i++)
      d.snapshots.push(
        snapshotRow('web', iso(`2${i}:00`.slice(0, 5).replace('25', '23')), {
          id: `s-0000003${i}`,
          createdAt: `2026-12-0${i}T00:00:00.000Z`,
        }),
      );
  });
  const message = nothingAtTime(resolveAt(data, 'web', T)).message;
  t.match(
    message,
    /: s-00000035 too new \(taken 2026-12-05 00:00:00Z\); s-00000034 too new .*; s-00000033 too new .*, and 2 more$/,
  );
  t.notMatch(message, /\n/, 'one line');
});

t.test('volumesOf: a volume, a sub-client, or an error naming both kinds', async (t) => {
  const data = catalog((d) => d.subclients.push(subclientRow('both', ['web', 'db'], null)));
  t.same(volumesOf(data, 'web'), { volumes: ['web'], subclient: null });
  t.same(volumesOf(data, 'both'), { volumes: ['web', 'db'], subclient: 'both' });
  t.throws(() => volumesOf(data, 'nope'), {
    code: 'unknown-volume',
    exit: 'notFound',
    message: 'no volume or sub-client named "nope"',
  });
});

t.test('an archive generation is chosen when no snapshot or QRV holds as late a state (F15)', async (t) => {
  const generation = (id: string, at: string, extra: Partial<ArchiveRow> = {}) =>
    archiveRow('web', at, { id, sourceId: 's-00000009', snapshotId: 's-00000009', ...extra });
  const data = catalog((d) => {
    d.snapshots.push(snapshotRow('web', iso('09:00'), { id: 's-00000001' }));
    d.archives.push(
      generation('a-000000000001', iso('12:00')),
      generation('a-000000000002', iso('09:00')),
      generation('a-000000000003', iso('13:00'), { state: 'failed' }),
      generation('a-000000000004', iso('19:00')),
      generation('a-000000000005', iso('11:00'), {
        lastVerify: { at: iso('14:00'), ok: false, badBlocks: 2, deep: true },
      }),
    );
  });
  const r = resolveAt(data, 'web', T);
  t.match(r.chosen, { id: 'a-000000000001', kind: 'archive', pointInTime: iso('12:00') }, 'the latest state at T');
  t.match(
    resolutionLines(r)[0],
    /a-000000000001, an archive generation \(no snapshot or QRV on this host holds as late a state\)/,
  );
  t.match(reasonOf(r, 's-00000001'), /^older than the chosen one/);
  t.match(reasonOf(r, 'a-000000000002'), /^older than the chosen one/);
  t.match(reasonOf(r, 'a-000000000003'), /^not ready \(failed\)$/);
  t.match(reasonOf(r, 'a-000000000004'), /^too new/);
  t.match(reasonOf(r, 'a-000000000005'), /^failed verify at .* \(2 bad chunks\)$/);

  const sameTime = catalog((d) => {
    d.snapshots.push(snapshotRow('web', iso('12:00'), { id: 's-00000001' }));
    d.archives.push(generation('a-000000000001', iso('12:00')));
  });
  t.match(resolveAt(sameTime, 'web', T).chosen, { id: 's-00000001' }, 'at the same point in time the local copy wins');
  const snapshotsOnly = resolveAt(data, 'web', T, 'snapshot');
  t.match(snapshotsOnly.chosen, { id: 's-00000001' }, 'only a snapshot');
  t.match(reasonOf(snapshotsOnly, 'a-000000000001'), /^not a snapshot \(only a snapshot will do here\)$/);
});

t.test('why each usable copy was not chosen: crash-torn, same point in time, older', async (t) => {
  const data = catalog((d) => {
    d.snapshots.push(
      snapshotRow('web', iso('17:00'), { id: 's-00000041', consistency: 'crash-torn' }),
      snapshotRow('web', iso('09:00'), { id: 's-00000042' }),
      snapshotRow('web', iso('09:00'), { id: 's-00000043' }),
      snapshotRow('web', iso('08:00'), { id: 's-00000044', state: 'removed' }),
      snapshotRow('web', iso('07:00'), { id: 's-00000045', state: 'creating' }),
    );
  });
  const r = resolveAt(data, 'web', T);
  t.match(r.chosen, { id: 's-00000042', consistency: 'atomic' }, 'an older consistent copy before a newer torn one');
  t.equal(
    reasonOf(r, 's-00000041'),
    'crash-torn (written to while it was copied: no single point in time), and s-00000042 is consistent',
  );
  t.equal(
    reasonOf(r, 's-00000043'),
    'same point in time as s-00000042, which is a snapshot (exact, nothing to attach)',
  );
  t.equal(reasonOf(r, 's-00000044'), 'removed at an unknown time');
  t.equal(reasonOf(r, 's-00000045'), 'not ready (creating)');

  // only torn copies: the newest is chosen, and says so; the others are older
  const torn = catalog((d) => {
    d.snapshots.push(
      snapshotRow('web', iso('17:00'), { id: 's-00000051', consistency: 'crash-torn' }),
      snapshotRow('web', iso('16:00'), { id: 's-00000052', consistency: 'crash-torn' }),
    );
  });
  const rt = resolveAt(torn, 'web', T);
  t.match(rt.chosen, { id: 's-00000051', consistency: 'crash-torn' });
  t.equal(reasonOf(rt, 's-00000052'), 'older than the chosen one (taken 2026-11-30 16:00:00Z)');
  t.match(resolutionLines(rt)[0], /s-00000051, a snapshot taken 2026-11-30 17:00:00Z \(crash-torn: written to/);

  // a QRV before an archive generation of the same point in time; two QRVs: the first by id
  const qrvs = catalog((d) => {
    d.snapshots.push(snapshotRow('web', iso('12:00'), { id: 's-00000061', state: 'removed', removedAt: iso('12:10') }));
    d.qrvs.push(
      qrvRow('web', iso('12:05'), { id: 'q-00000062', snapshotId: 's-00000061' }),
      qrvRow('web', iso('12:05'), { id: 'q-00000061', snapshotId: 's-00000061' }),
    );
    d.archives.push(archiveRow('web', iso('12:00'), { id: 'a-000000000061', snapshotId: 's-00000061' }));
  });
  const rq = resolveAt(qrvs, 'web', T);
  t.match(rq.chosen, { id: 'q-00000061', kind: 'qrv' });
  t.equal(reasonOf(rq, 'q-00000062'), 'same point in time as q-00000061, which is first by id');
  t.equal(
    reasonOf(rq, 'a-000000000061'),
    'same point in time as q-00000061, which is a QRV (on this host, nothing to fetch)',
  );
  t.same(
    rq.passedOver.map((p) => `${p.kind} ${p.id}`),
    ['snapshot s-00000061', 'qrv q-00000062', 'archive a-000000000061'],
    'at the same point in time: snapshots, then QRVs, then archive generations',
  );
});
