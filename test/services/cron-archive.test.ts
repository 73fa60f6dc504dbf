// What qrv cron archives, and what qrv prune removes from stores: decided from catalog data and a
// clock alone, so the choices are checked exactly here (the CLI tests run them for real).
import t from 'tap';
import { hostname } from 'node:os';
import { emptyCatalog, type CatalogData } from '../../src/catalog/schema.ts';
import { dueArchives } from '../../src/services/cron-archive.ts';
import { archivesToPrune } from '../../src/services/prune-archives.ts';
import { archiveRow, jobRow, policyRow, qrvRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';

const NOW = new Date('2026-12-04T12:00:00Z');
const at = (hhmm: string, day = '2026-12-04') => `${day}T${hhmm}:00.000Z`;

function catalog(policy: Parameters<typeof policyRow>[2], fill: (data: CatalogData) => void = () => undefined) {
  const data = emptyCatalog();
  data.stores.push({
    name: 'vault',
    kind: 'dir',
    location: '/srv/vault',
    port: null,
    sshOptions: [],
    endpoint: null,
    region: null,
    addedAt: at('00:00'),
  });
  data.policies.push(policyRow('p', null, policy));
  data.volumes.push(volumeRow('web', { policy: 'p' }), volumeRow('db'));
  fill(data);
  return data;
}

t.test(
  'cron archives the newest point in time newer than the newest generation, at most once per --archive-every',
  async (t) => {
    t.same(dueArchives(catalog({ archiveTo: 'vault' }), NOW), [], 'no point in time: nothing');
    const one = catalog({ archiveTo: 'vault' }, (d) => {
      d.snapshots.push(
        snapshotRow('web', at('10:00'), { id: 's-00000001' }),
        snapshotRow('web', at('11:00'), { id: 's-00000002' }),
      );
      d.snapshots.push(snapshotRow('db', at('11:00'), { id: 's-00000003' }));
    });
    t.same(
      dueArchives(one, NOW),
      [{ volume: 'web', store: 'vault', sourceId: 's-00000002' }],
      'the newest; db has no --archive-to',
    );
    one.archives.push(archiveRow('web', at('11:00'), { createdAt: at('11:05') }));
    t.same(dueArchives(one, NOW), [], 'that point in time is archived already');
    one.snapshots.push(snapshotRow('web', at('11:30'), { id: 's-00000004' }));
    t.same(dueArchives(one, NOW), [{ volume: 'web', store: 'vault', sourceId: 's-00000004' }], 'a newer one is');
    one.policies[0]!.archiveEvery = '1d';
    t.same(dueArchives(one, NOW), [], 'but not within --archive-every of the last one');
    t.same(dueArchives(one, new Date('2026-12-05T11:05:00Z')), [
      { volume: 'web', store: 'vault', sourceId: 's-00000004' },
    ]);
    one.policies[0]!.archiveTo = 'nowhere';
    t.same(dueArchives(one, NOW), [], 'a store the catalog does not know: nothing (policy set refuses it)');
  },
);

t.test('a QRV stands in for a removed snapshot; a failed or killed send is resumed first', async (t) => {
  const data = catalog({ archiveTo: 'vault' }, (d) => {
    d.snapshots.push(snapshotRow('web', at('10:00'), { id: 's-00000001', state: 'removed', removedAt: at('10:30') }));
    d.qrvs.push(qrvRow('web', at('10:20'), { id: 'q-00000001', snapshotId: 's-00000001', state: 'ready' }));
  });
  t.same(dueArchives(data, NOW), [{ volume: 'web', store: 'vault', sourceId: 'q-00000001' }]);
  data.jobs.push(
    jobRow('archive', 'web', 'running', at('10:40'), null, { id: 'j-00000009', pid: process.pid, host: hostname() }),
  );
  data.archives.push(archiveRow('web', at('10:00'), { state: 'sending', jobId: 'j-00000009' }));
  t.same(dueArchives(data, NOW), [], 'a send whose process lives is left alone');
  data.jobs[0]!.pid = 2 ** 22 + 7;
  t.same(dueArchives(data, NOW), [{ volume: 'web', store: 'vault', resume: 'j-00000009' }], 'its process is gone');
  data.archives[0]!.state = 'failed';
  t.same(dueArchives(data, NOW), [{ volume: 'web', store: 'vault', resume: 'j-00000009' }]);
});

t.test('prune removes, per store and volume, the generations outside the grid', async (t) => {
  const data = catalog({ archiveTo: 'vault', archiveKeep: '2d' }, (d) => {
    d.archives.push(
      archiveRow('web', at('09:00'), { id: 'a-000000000001' }),
      archiveRow('web', at('10:00'), { id: 'a-000000000002' }),
      archiveRow('web', at('10:00', '2026-12-03'), { id: 'a-000000000003' }),
      archiveRow('web', at('10:00', '2026-12-01'), { id: 'a-000000000004' }),
      archiveRow('web', at('08:00'), { id: 'a-000000000005', store: 'other' }),
      archiveRow('web', at('07:00'), { id: 'a-000000000006', state: 'failed' }),
      archiveRow('db', at('10:00', '2026-12-01'), { id: 'a-000000000007' }),
    );
  });
  const chosen = archivesToPrune(data, NOW);
  t.same([...chosen.keys()], ['vault'], 'the store "other" holds one generation of web: its newest, kept');
  t.same(
    chosen.get('vault')!.map((c) => [c.row.id, c.reason]),
    [
      ['a-000000000001', 'outside the grid 2d (a-000000000002 holds day 2026-12-04)'],
      ['a-000000000004', 'outside the grid 2d'],
    ],
    'web keeps the newest of today and of yesterday; a failed send and db (no grid) are not touched',
  );
  const everyVolume = archivesToPrune(data, NOW, '1d');
  t.same(
    everyVolume
      .get('vault')!
      .map((c) => c.row.id)
      .sort(),
    ['a-000000000001', 'a-000000000003', 'a-000000000004'],
  );
  t.throws(() => archivesToPrune(data, NOW, '1q'), { code: 'usage' });
});
