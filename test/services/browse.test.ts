// browseSource: which snapshot, QRV or archive generation `qrv ls`, `qrv find`, `qrv browse` and
// file recovery read, and every refusal, field for field. Pure: hand-built catalogs, a fixed time.
import t, { type Test } from 'tap';
import { emptyCatalog, type CatalogData } from '../../src/catalog/schema.ts';
import { browseSource } from '../../src/services/browse.ts';
import { archiveRow, qrvRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';

const T = new Date('2026-11-30T18:00:00Z');
const iso = (hhmm: string) => `2026-11-30T${hhmm}:00.000Z`;

function catalog(): CatalogData {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web'));
  data.snapshots.push(
    snapshotRow('web', iso('10:00'), { id: 's-00000001' }),
    snapshotRow('web', iso('12:00'), {
      id: 's-00000002',
      state: 'removed',
      removedAt: iso('12:30'),
      copiedTo: 'q-00000002',
    }),
    snapshotRow('web', iso('13:00'), { id: 's-00000003', state: 'removed', removedAt: null }),
    snapshotRow('web', iso('14:00'), { id: 's-00000004', state: 'creating' }),
    snapshotRow('web', iso('19:00'), { id: 's-00000005' }),
  );
  data.qrvs.push(
    qrvRow('web', iso('12:30'), { id: 'q-00000002', snapshotId: 's-00000002' }),
    qrvRow('web', iso('12:40'), { id: 'q-00000003', snapshotId: 's-00000002', state: 'copying' }),
    qrvRow('web', iso('12:50'), { id: 'q-00000004', snapshotId: 's-00000002', state: 'failed' }),
    qrvRow('web', iso('12:55'), { id: 'q-00000005', snapshotId: 's-0000dead' }),
  );
  data.archives.push(
    archiveRow('web', iso('11:00'), { id: 'a-000000000001' }),
    archiveRow('web', iso('11:30'), { id: 'a-000000000002', state: 'sending' }),
  );
  return data;
}

/** The error browseSource throws, as the CLI shows it. */
function refusal(request: Parameters<typeof browseSource>[1]) {
  try {
    browseSource(catalog(), request, T);
  } catch (error) {
    const { exit, code, message, hint } = error as { exit: string; code: string; message: string; hint?: string };
    return { exit, code, message, hint };
  }
  throw new Error('browseSource did not refuse');
}

const SNAPSHOT = {
  id: 's-00000001',
  kind: 'snapshot',
  volume: 'web',
  path: '/srv/.snap/s-00000001.img',
  pointInTime: iso('10:00'),
};
const QRV = { id: 'q-00000002', kind: 'qrv', volume: 'web', path: '/replicas/web.qrv.img', pointInTime: iso('12:00') };
const ARCHIVE = (data: CatalogData) => ({
  id: 'a-000000000001',
  kind: 'archive',
  volume: 'web',
  path: '',
  archive: data.archives[0],
  pointInTime: iso('11:00'),
});

/** The same fields, and in the same order (the JSON of `qrv ls` shows them so). */
function sameInOrder(t: Test, got: object, want: object, message = 'the same fields') {
  t.same(got, want, message);
  t.same(Object.keys(got), Object.keys(want), 'fields in order');
}

t.test('by id: a snapshot, a QRV, an archive generation, field for field and in order', async (t) => {
  const data = catalog();
  sameInOrder(t, browseSource(data, { id: 's-00000001' }, T), SNAPSHOT, 'no asOf without --as-of');
  sameInOrder(t, browseSource(data, { id: 'q-00000002', via: 'debugfs' }, T), QRV);
  t.same(
    browseSource(data, { id: 'q-00000005' }, T).pointInTime,
    null,
    'a QRV whose snapshot is not in the catalog: no point in time',
  );
  sameInOrder(t, browseSource(data, { id: 'a-000000000001' }, T), ARCHIVE(data));
});

t.test('by --volume and --as-of: the copy resolve chooses, with the time asked for', async (t) => {
  const data = catalog();
  const at = (asOf: string) => browseSource(data, { volume: 'web', asOf }, T);
  sameInOrder(t, at('2026-11-30T12:45:00Z'), { ...QRV, asOf: '2026-11-30T12:45:00.000Z' }, 'asOf last');
  sameInOrder(
    t,
    browseSource(data, { volume: 'web' }, T),
    { ...QRV, asOf: T.toISOString() },
    'no --as-of: now (the clock given), so the snapshot taken after T is not chosen',
  );
  sameInOrder(t, at('2026-11-30T10:30:00Z'), { ...SNAPSHOT, asOf: '2026-11-30T10:30:00.000Z' });
  sameInOrder(t, at('2026-11-30T11:15:00Z'), { ...ARCHIVE(data), asOf: '2026-11-30T11:15:00.000Z' });
  t.match(refusal({ volume: 'web', asOf: '2020-01-01T00:00Z' }), { exit: 'notFound', code: 'nothing-at-time' });
  t.match(refusal({ volume: 'nope' }), { exit: 'notFound', code: 'unknown-volume' });
  t.match(refusal({ volume: 'web', asOf: 'whenever' }), { exit: 'usage', message: /--as-of/ });
});

t.test('refusals: every message, hint, code and exit', async (t) => {
  t.same(refusal({}), {
    exit: 'usage',
    code: 'usage',
    message: 'name a snapshot or QRV id, or give --volume (with --as-of)',
    hint: 'e.g. `qrv ls s-1a2b3c4d5e6f:/etc` or `qrv ls --volume web --as-of "2h ago" /etc`',
  });
  t.same(refusal({ asOf: 'now' }), refusal({}), '--as-of without a volume or an id');
  for (const request of [
    { id: 's-00000001', volume: 'web' },
    { id: 's-00000001', asOf: 'now' },
  ])
    t.same(refusal(request), {
      exit: 'usage',
      code: 'usage',
      message: 'give either an id (s-00000001) or --volume/--as-of, not both',
      hint: '--volume V --as-of T stands in place of the id',
    });
  t.same(
    refusal({ id: 'nope', via: 'sideways' as never }),
    {
      exit: 'usage',
      code: 'bad-via',
      message: '--via "sideways" is not a way to read',
      hint: 'use auto, debugfs (ext2/3/4, no root) or mount (root)',
    },
    'a bad --via first, before the id is looked at',
  );
  // [id, exit, code, message, hint]
  const refusals: [string, string, string, string, string][] = [
    [
      's-00000002',
      'refused',
      'snapshot-removed',
      `snapshot s-00000002 was removed at ${iso('12:30')}`,
      'QRV q-00000002 holds the same point in time: `qrv ls q-00000002`',
    ],
    [
      's-00000003',
      'refused',
      'snapshot-removed',
      'snapshot s-00000003 was removed',
      `\`qrv resolve web --as-of ${iso('13:00')}\` names what is left from then`,
    ],
    [
      's-00000004',
      'refused',
      'snapshot-not-ready',
      'snapshot s-00000004 is creating, not ready',
      'pick a ready snapshot from `qrv list`',
    ],
    [
      'q-00000003',
      'refused',
      'qrv-not-ready',
      'QRV q-00000003 is copying, not ready',
      'wait for its copy to finish, or browse the snapshot it is copied from',
    ],
    [
      'q-00000004',
      'refused',
      'qrv-not-ready',
      'QRV q-00000004 is failed, not ready',
      'pick a ready QRV from `qrv list`',
    ],
    [
      'a-000000000002',
      'refused',
      'archive-not-ready',
      'archive generation a-000000000002 is sending; only a ready one can be read',
      'pick a ready one from `qrv list`',
    ],
    ['a-00000000beef', 'notFound', 'unknown-archive', 'no archive generation a-00000000beef', 'see `qrv list`'],
  ];
  for (const [id, exit, code, message, hint] of refusals)
    t.same(refusal({ id }), { exit, code, message, hint }, `${id}: ${code}`);
  t.match(refusal({ id: 's-0000beef' }), { exit: 'notFound', code: 'unknown-snapshot' });
  t.match(refusal({ id: 'q-0000beef' }), { exit: 'notFound', code: 'unknown-qrv' });
  const notAnId = {
    exit: 'notFound',
    code: 'unknown-id',
    message: '"j-00000001" is not a snapshot, QRV or archive generation id',
    hint: 'ids look like s-1a2b3c4d5e6f (snapshot) or q-1a2b3c4d5e6f (QRV); see `qrv list`',
  };
  t.same(refusal({ id: 'j-00000001' }), notAnId, 'a job id');
  t.same(refusal({ id: 'web' }), { ...notAnId, message: '"web" is not a snapshot, QRV or archive generation id' });
});
