// The browser's applications level (src/ui/browse/apps.ts, model.ts, details.ts), from catalog
// rows alone: the host gains "applications" once a row records an object; instances, their
// objects, and an object's copies (of its first path's volume, newest first, opened at that path);
// whether a copy's group holds the whole object; `t` at an object.
import t from 'tap';
import { emptyCatalog, type CatalogData } from '../../../src/catalog/schema.ts';
import {
  groupState,
  hasApplications,
  instancesOf,
  jumpToObjectTime,
  objectCopiesOf,
} from '../../../src/ui/browse/apps.ts';
import { detailLines } from '../../../src/ui/browse/details.ts';
import {
  frameOf,
  hostItems,
  initialFrames,
  objectCopyItems,
  objectItems,
  objectOf,
  refreshFrames,
  type Node,
} from '../../../src/ui/browse/model.ts';
import { qrvRow, snapshotRow, volumeRow } from '../../helpers/check-rows.ts';
import { pgObject, sqliteObject } from '../../helpers/object-rows.ts';

const at = (hhmm: string) => `2026-12-04T${hhmm}:00.000Z`;
const BILLING = 'postgresql:main/billing';

function catalog(): CatalogData {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('pgdata'), volumeRow('pgwal'), volumeRow('app'), volumeRow('web'));
  const early = [pgObject('billing', '0/1000028'), pgObject('shop', '0/1000028')];
  const late = [pgObject('billing', '0/3000028')];
  data.snapshots.push(
    snapshotRow('pgdata', at('09:00'), { id: 's-0000a001', groupId: 'g-0000000a', objects: early }),
    snapshotRow('pgwal', at('09:00'), { id: 's-0000a002', groupId: 'g-0000000a', objects: early }),
    snapshotRow('pgdata', at('12:00'), { id: 's-0000b001', groupId: 'g-0000000b', objects: late }),
    snapshotRow('pgwal', at('12:00'), {
      id: 's-0000b002',
      groupId: 'g-0000000b',
      objects: late,
      state: 'removed',
      removedAt: at('12:05'),
    }),
    snapshotRow('pgdata', at('13:00'), { id: 's-0000e001', groupId: 'g-0000000e', objects: late, state: 'failed' }),
    snapshotRow('app', at('10:00'), { id: 's-0000c001', groupId: 'g-0000000c', objects: [sqliteObject()] }),
    snapshotRow('web', at('10:00'), { id: 's-0000d001', groupId: 'g-0000000d' }),
  );
  data.qrvs.push(
    qrvRow('pgdata', at('09:05'), { id: 'q-0000a001', snapshotId: 's-0000a001', objects: early }),
    qrvRow('pgwal', at('09:05'), { id: 'q-0000a002', snapshotId: 's-0000a002', objects: early }),
  );
  return data;
}

t.test('no objects recorded: the host lists its sub-clients only', async (t) => {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('web'));
  data.snapshots.push(snapshotRow('web', at('10:00')));
  t.notOk(hasApplications(data));
  t.same(
    hostItems(data).map((n) => n.kind),
    ['subclient', 'subclient'],
    'the default sub-client and the volumes in none',
  );
  t.notMatch(JSON.stringify(detailLines(hostItems(data)[0], data, null, '')), /applications/);
});

t.test('host → applications → instances → objects → copies', async (t) => {
  const data = catalog();
  t.ok(hasApplications(data));
  const host = hostItems(data);
  t.same(host.at(-1), { kind: 'apps', name: 'applications' }, 'after the sub-clients');
  t.equal(initialFrames(data, 'h')[0]?.selected, 0, 'the first sub-client stays selected');
  t.same(
    instancesOf(data).map((i) => [i.id, i.objects]),
    [
      ['postgresql:main', [BILLING, 'postgresql:main/shop']],
      ['sqlite:/srv/app', ['sqlite:/srv/app/app.db']],
    ],
  );
  t.same(objectItems(data, 'postgresql:main'), [
    { kind: 'object', name: 'billing', id: BILLING },
    { kind: 'object', name: 'shop', id: 'postgresql:main/shop' },
  ]);
  t.same(objectItems(data, 'sqlite:/srv/app'), [{ kind: 'object', name: 'app.db', id: 'sqlite:/srv/app/app.db' }]);

  const copies = objectCopiesOf(data, BILLING);
  t.same(
    copies.map((c) => [c.copy.id, c.copy.kind, c.copy.pointInTime, c.record.position, c.at]),
    [
      ['s-0000b001', 'snapshot', at('12:00'), '0/3000028', '/16/main'],
      ['s-0000a001', 'snapshot', at('09:00'), '0/1000028', '/16/main'],
      ['q-0000a001', 'qrv', at('09:00'), '0/1000028', '/16/main'],
    ],
    "the ready copies of the data folder's volume, newest first; not the WAL's, not failed or removed ones",
  );
  t.same(
    objectCopiesOf(data, 'sqlite:/srv/app/app.db').map((c) => [c.copy.id, c.at]),
    [['s-0000c001', '/app.db']],
    'a database file: opened at the file',
  );
  const item = objectCopyItems(data, BILLING)[0] as Extract<Node, { kind: 'copy' }>;
  t.match(item, { kind: 'copy', copy: { id: 's-0000b001' }, object: { id: BILLING, at: '/16/main' } });
});

t.test("rows that do not say where the object's paths were: the copies of every volume, at their roots", async (t) => {
  const data = emptyCatalog();
  data.volumes.push(volumeRow('pgdata'), volumeRow('pgwal'));
  const old = [pgObject('billing', '0/1', { places: undefined })];
  data.snapshots.push(
    snapshotRow('pgdata', at('09:00'), { id: 's-00000001', groupId: 'g-1', objects: old }),
    snapshotRow('pgwal', at('09:00'), { id: 's-00000002', groupId: 'g-1', objects: old }),
  );
  t.same(
    objectCopiesOf(data, BILLING).map((c) => [c.copy.id, c.at]),
    [
      ['s-00000001', '/'],
      ['s-00000002', '/'],
    ],
  );
});

t.test('whether a copy holds the whole object: a copy of every volume of its group', async (t) => {
  const data = catalog();
  const [late, early, qrv] = objectCopiesOf(data, BILLING);
  t.same(groupState(data, BILLING, late!.copy), {
    copies: null,
    why: 'pgwal: snapshot s-0000b002 is removed and no ready QRV reflects it',
  });
  t.same(groupState(data, BILLING, early!.copy), {
    copies: 'pgdata from s-0000a001, pgwal from s-0000a002',
    why: null,
  });
  t.equal(groupState(data, BILLING, qrv!.copy).why, null, "a QRV: its snapshot's group");
  const pane = detailLines(objectCopyItems(data, BILLING)[0], data, null, '').map((l) => l.text);
  t.match(pane[0], /^s-0000b001 {2}snapshot of pgdata$/);
  t.ok(pane.includes('object         postgresql:main/billing'));
  t.ok(pane.includes('position       0/3000028'));
  t.ok(pane.includes('kept           backup_label, tablespace_map'));
  t.ok(pane.includes('paths          /var/lib/postgresql/16/main (pgdata:/16/main)'));
  t.ok(pane.includes('               /srv/wal/pg_wal (pgwal:/pg_wal)'));
  t.ok(pane.some((l) => /^whole object {3}no: pgwal: snapshot s-0000b002 is removed/.test(l)));
  t.match(pane.at(-1), /^⏎ browse files at pgdata:\/16\/main · p persistence · d delete$/);
  const objectPane = detailLines({ kind: 'object', name: 'billing', id: BILLING }, data, null, '').map((l) => l.text);
  t.equal(objectPane[0], BILLING);
  t.ok(
    objectPane.some((l) => /^ID\s+HOLDS/.test(l)),
    'the copies as a table',
  );
  const appsPane = detailLines({ kind: 'apps', name: 'applications' }, data, null, '').map((l) => l.text);
  t.ok(appsPane.includes('postgresql:main  2 objects'));
  t.ok(appsPane.includes('sqlite:/srv/app  1 object'));
});

t.test('t at an object: the copy of the group qrv resolve chooses', async (t) => {
  const data = catalog();
  const now = new Date(at('14:00'));
  t.same(jumpToObjectTime(data, BILLING, '2026-12-04T12:30', now), {
    id: 's-0000a001',
    line: 'postgresql:main/billing as of 2026-12-04 12:30:00Z: s-0000a001 of group g-0000000a, taken 2026-12-04 09:00:00Z',
  });
  t.throws(() => jumpToObjectTime(data, BILLING, '2026-12-04T08:00', now), { code: 'nothing-at-time' });
  t.throws(() => jumpToObjectTime(data, BILLING, 'soon', now), { message: /the time "soon" is not a time/ });

  const host: Node = { kind: 'host', name: 'h' };
  const apps: Node = { kind: 'apps', name: 'applications' };
  const instance: Node = { kind: 'instance', name: 'postgresql:main' };
  const object = objectItems(data, 'postgresql:main')[0] as Extract<Node, { kind: 'object' }>;
  const atInstance = [
    frameOf(host, hostItems(data)),
    frameOf(apps, []),
    frameOf(instance, objectItems(data, 'postgresql:main')),
  ];
  t.same(objectOf(atInstance), { node: object, depth: 3 }, 'the selected object');
  const inside = [...atInstance, frameOf(object, objectCopyItems(data, BILLING))];
  t.same(objectOf(inside), { node: object, depth: 3 }, 'the object whose copies are listed');
  t.equal(objectOf(atInstance.slice(0, 2)), null);
});

t.test("after a change, an object's copies are read again", async (t) => {
  const data = catalog();
  const object: Node = { kind: 'object', name: 'billing', id: BILLING };
  const frames = [frameOf(object, objectCopyItems(data, BILLING), 'copy:s-0000a001')];
  t.equal(frames[0]?.selected, 1);
  data.snapshots = data.snapshots.filter((s) => s.id !== 's-0000b001');
  const fresh = refreshFrames(frames, data);
  t.same(
    fresh[0]?.items.map((n) => (n.kind === 'copy' ? n.copy.id : '')),
    ['s-0000a001', 'q-0000a001'],
  );
  t.equal(fresh[0]?.selected, 0, 'the selection follows its copy');
});
