// `qrv list --object ID`, `qrv list --long` and `qrv show` with application objects (F2, F13):
// the real CLI on a catalog written directly, whose snapshot rows record objects as a writer's
// job would (a PostgreSQL cluster on two volumes, an SQLite database), and a QRV carrying them.
import t from 'tap';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { qrvRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';
import { pgObject, sqliteObject } from '../helpers/object-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const at = (hhmm: string) => `2026-12-04T${hhmm}:00.000Z`;
const ENV = { TZ: 'UTC' };

const dir = await tmpDir(t);
const home = path.join(dir, 'home');
const catalog = await Catalog.open(home);
await catalog.update((data) => {
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
      copiedTo: 'q-0000b002',
    }),
    snapshotRow('app', at('10:00'), { id: 's-0000c001', groupId: 'g-0000000c', objects: [sqliteObject()] }),
    snapshotRow('web', at('10:00'), { id: 's-0000d001', groupId: 'g-0000000d' }),
  );
  data.qrvs.push(
    qrvRow('pgwal', at('12:05'), { id: 'q-0000b002', snapshotId: 's-0000b002', objects: late, createdAt: at('12:05') }),
    qrvRow('web', at('10:05'), { id: 'q-0000d001', snapshotId: 's-0000d001' }),
  );
});

/** The ids in the first column of a table's rows. */
const ids = (stdout: string) => stdout.split('\n').flatMap((line) => /^([sq]-[0-9a-f]+)\s/.exec(line)?.[1] ?? []);

t.test('--object: only the snapshots and QRVs that hold the object', async (t) => {
  let run = await qrv(home, ['list', '--object', 'postgresql:main/billing'], ENV);
  t.equal(run.exitCode, 0, run.stderr);
  t.same(
    ids(run.stdout),
    ['s-0000a001', 's-0000a002', 's-0000b001', 'q-0000b002'],
    'both groups; the removed one hidden',
  );
  run = await qrv(home, ['list', '--object', 'postgresql:main/billing', '--all'], ENV);
  t.same(ids(run.stdout), ['s-0000a001', 's-0000a002', 's-0000b001', 's-0000b002', 'q-0000b002'], '--all shows it');
  run = await qrv(home, ['list', '--object', 'postgresql:main/shop', '--volume', 'pgwal'], ENV);
  t.same(ids(run.stdout), ['s-0000a002'], 'with the other filters; the QRV moved on to a snapshot without it');
  t.match(run.stdout, /\nno QRVs$/);
  run = await qrv(home, ['list', '--object', 'postgresql:main/billing', '--as-of', at('10:00')], ENV);
  t.same(ids(run.stdout), ['s-0000a001', 's-0000a002'], 'and --as-of');

  const json = await qrvJson(home, ['list', '--object', 'sqlite:/srv/app/app.db'], ENV);
  t.equal(json.run.exitCode, 0);
  t.same(
    (json.summary.snapshots as { id: string }[]).map((s) => s.id),
    ['s-0000c001'],
  );
  t.same(json.summary.qrvs, []);
  t.same(json.summary.snapshots[0].objects, [sqliteObject()], '--json: the rows with their objects');

  run = await qrv(home, ['list', '--object', 'postgresql:main/nope'], ENV);
  t.equal(run.exitCode, 0, 'an object nothing holds: nothing found, not an error');
  t.equal(run.stdout, 'no snapshots\n\nno QRVs');
});

t.test('--object refuses what is not an object id', async (t) => {
  let run = await qrv(home, ['list', '--object', 'billing'], ENV);
  t.equal(run.exitCode, 2, run.stdout);
  t.match(run.stderr, /"billing" is not an application object \(name one as WRITER:OBJECT/);
  run = await qrv(home, ['list', '--object', 'mysql:main/billing'], ENV);
  t.equal(run.exitCode, 2);
  t.match(run.stderr, /there is no application writer "mysql" \(use one of: postgresql, sqlite\)/);
});

t.test('--long: the objects each row holds, in the last column', async (t) => {
  const run = await qrv(home, ['list', '--long'], ENV);
  t.equal(run.exitCode, 0, run.stderr);
  const lines = run.stdout.split('\n');
  t.match(lines[0], /\s+GROUP\s+LABEL\s+OBJECTS$/);
  const row = (id: string) => lines.find((line) => line.startsWith(id)) ?? '';
  t.match(row('s-0000a001'), /g-0000000a\s+postgresql:main\/billing, postgresql:main\/shop$/);
  t.match(row('s-0000c001'), /\ssqlite:\/srv\/app\/app\.db$/);
  t.match(row('s-0000d001'), /\s-$/, 'none: -');
  t.match(
    lines.find((line) => line.startsWith('QRV')),
    /DESTINATION\s+OBJECTS$/,
  );
  t.match(row('q-0000b002'), /\spostgresql:main\/billing$/, 'a QRV: the objects of the snapshot it reflects');
  t.match(row('q-0000d001'), /\s-$/);
  const short = await qrv(home, ['list'], ENV);
  t.notMatch(short.stdout, /OBJECTS|postgresql:/, 'without --long, the tables as before');
});

t.test('show: a snapshot or QRV lists its objects, position and the files kept', async (t) => {
  let run = await qrv(home, ['show', 's-0000a001'], ENV);
  t.equal(run.exitCode, 0, run.stderr);
  t.equal(run.stdout.trimEnd().split('\n').at(-4), 'objects:', 'the objects last');
  t.match(
    run.stdout,
    /^objects:\n {2}OBJECT\s+POSITION\s+KEPT\s+PATHS\n {2}postgresql:main\/billing\s+0\/1000028\s+backup_label, tablespace_map\s+\/var\/lib\/postgresql\/16\/main, \/srv\/wal\/pg_wal\n {2}postgresql:main\/shop\s+0\/1000028\s+backup_label, tablespace_map\s+/m,
  );
  t.notMatch(run.stdout, /START WAL LOCATION/, "the files' text is not printed");
  t.match(run.stdout, /^groupId: g-0000000a$/m, 'the other fields as before');

  run = await qrv(home, ['show', 'q-0000b002'], ENV);
  t.match(run.stdout, /^objects:\n {2}OBJECT.*\n {2}postgresql:main\/billing\s+0\/3000028\s+backup_label/m);
  run = await qrv(home, ['show', 's-0000c001'], ENV);
  t.match(run.stdout, /^ {2}sqlite:\/srv\/app\/app\.db\s+2 pages\s+-\s+\/srv\/app\/app\.db$/m, 'nothing kept: -');
  run = await qrv(home, ['show', 's-0000d001'], ENV);
  t.match(run.stdout, /^objects: -$/m);
  run = await qrv(home, ['show', 'q-0000d001'], ENV);
  t.match(run.stdout, /^objects: -$/m, 'a QRV of a snapshot without objects');

  const json = await qrvJson(home, ['show', 's-0000a001'], ENV);
  t.same(
    json.summary.snapshot.objects,
    [pgObject('billing', '0/1000028'), pgObject('shop', '0/1000028')],
    '--json: the whole rows',
  );
  const set = await qrv(home, ['set', 's-0000a001', '--label', 'before'], ENV);
  t.match(set.stdout, /^label: before$[\s\S]*^objects:\n {2}OBJECT/m, 'qrv set shows the row the same way');
});

t.test('resolve WRITER:OBJECT: the group, and the copy of each volume (a QRV for a removed snapshot)', async (t) => {
  let run = await qrv(home, ['resolve', 'postgresql:main/billing', '--as-of', '2026-12-04T12:30:00Z'], ENV);
  t.equal(run.exitCode, 0, run.stderr);
  t.equal(
    run.stdout.split('\n')[0],
    'postgresql:main/billing as of 2026-12-04 12:30:00Z: group g-0000000b of 2026-12-04 12:00:00Z (0/3000028): pgdata from s-0000b001, pgwal from q-0000b002',
  );
  t.match(run.stdout, /^passed over:\n {2}g-0000000a\s+older than g-0000000b$/m);
  const json = await qrvJson(home, ['resolve', 'postgresql:main/shop', '--as-of', '2026-12-04T12:30:00Z'], ENV);
  t.equal(json.run.exitCode, 0);
  t.match(json.summary, {
    object: 'postgresql:main/shop',
    chosen: { groupId: 'g-0000000a', record: { name: 'shop', files: { backup_label: /START WAL LOCATION/ } } },
  });
  run = await qrv(home, ['resolve', 'postgresql:main/billing', '--as-of', '2026-12-04T08:00:00Z'], ENV);
  t.equal(run.exitCode, 3);
  t.match(run.stderr, /^qrv: no copy holds postgresql:main\/billing as of 2026-12-04 08:00:00Z: g-0000000b too new/);
});
