// The browser's tree of copies (src/ui/browse/tree.ts): archive generations are listed under
// their volume with the snapshots and QRVs, and a time jump may land on one.
import t from 'tap';
import { emptyCatalog } from '../../../src/catalog/schema.ts';
import { copiesOf, jumpToTime } from '../../../src/ui/browse/tree.ts';
import { copyDetails } from '../../../src/ui/browse/details.ts';
import { archiveRow, snapshotRow, volumeRow } from '../../helpers/check-rows.ts';

const at = (hhmm: string) => `2026-12-04T${hhmm}:00.000Z`;

t.test('generations are copies of their volume: newest point in time first, local before archived', async (t) => {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web'));
  data.snapshots.push(snapshotRow('web', at('10:00'), { id: 's-00000001' }));
  data.archives.push(
    archiveRow('web', at('10:00'), { id: 'a-000000000001' }),
    archiveRow('web', at('11:00'), { id: 'a-000000000002', store: 'offsite' }),
    archiveRow('web', at('12:00'), { id: 'a-000000000003', state: 'failed' }),
  );
  const rows = copiesOf(data, 'web');
  t.same(
    rows.map((r) => [r.id, r.kind]),
    [
      ['a-000000000002', 'archive'],
      ['s-00000001', 'snapshot'],
      ['a-000000000001', 'archive'],
    ],
    'a failed send is not a copy',
  );
  t.match(rows[0], { method: 'archive in offsite', pointInTime: at('11:00'), path: 'offsite: a-000000000002' });
  const details = copyDetails(rows[0]!).map((line) => JSON.stringify(line));
  t.match(details[0], /a-000000000002 {2}archive generation of web/);
  t.ok(
    details.some((line) => line.includes('fetched into the cache')),
    'opening it says what it costs',
  );

  const jump = jumpToTime(data, 'web', '2026-12-04T11:30:00Z', new Date(at('13:00')));
  t.match(jump, { id: 'a-000000000002', kind: 'archive' }, 'a time jump lands on the generation that holds it');
});
