// Writers in a job: mountHolding() on /proc/self/mounts text captured from a real host (two tmpfs
// mounted one inside the other, at folders with spaces in their names), and planWriters() mapping
// a real SQLite database on a real loop-mounted ext4 image — a qrv file volume — to that volume,
// refusing one on no volume of the catalog; the plan held and released, and a hold that fails
// part-way letting go of what it held.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t from 'tap';
import type { Volume } from '../../src/catalog/schema.ts';
import { HeldWriters, mountHolding, objectRows, planVolumes, planWriters } from '../../src/engine/writer-hold.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';

const MOUNTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'writers', 'mounts.txt');
const CAPTURED_AT = '/tmp/qrv-cap\\040mounts';

t.test('mountHolding(): the nearest mount of a path, its links resolved, escaped names read', async (t) => {
  const dir = await tmpDir(t);
  const base = path.join(dir, 'qrv-cap mounts');
  // the captured text, its folder moved into this test's (spaces escaped as the kernel does)
  const mounts = (await fs.readFile(MOUNTS, 'utf8')).replaceAll(CAPTURED_AT, `${dir}/qrv-cap\\040mounts`);
  const data = path.join(base, 'srv data');
  const wal = path.join(data, 'pg', 'wal');
  await fs.mkdir(path.join(data, 'pg', 'base'), { recursive: true });
  await fs.mkdir(wal, { recursive: true });
  await fs.writeFile(path.join(data, 'pg', 'base', '1'), '');
  await fs.symlink(wal, path.join(dir, 'wal-link'));
  await fs.symlink(path.join(data, 'pg'), path.join(data, 'pg-link'));

  const held = (file: string) => mountHolding(file, mounts);
  t.same(await held(path.join(data, 'pg', 'base', '1')), {
    mountpoint: data,
    real: path.join(data, 'pg', 'base', '1'),
  });
  t.same(await held(path.join(wal, '000001')), { mountpoint: wal, real: path.join(wal, '000001') }, 'the nested one');
  t.same(
    await held(path.join(data, 'pg', 'walnut')),
    { mountpoint: data, real: path.join(data, 'pg', 'walnut') },
    'a name that only begins like a mount point is not in it',
  );
  t.same(
    await held(path.join(wal, 'a', 'b', 'c.db-wal')),
    { mountpoint: wal, real: path.join(wal, 'a', 'b', 'c.db-wal') },
    'a path that does not exist yet: its nearest existing folder',
  );
  t.same(
    await held(path.join(dir, 'wal-link', 'new', '000002')),
    { mountpoint: wal, real: path.join(wal, 'new', '000002') },
    'a link on the way is followed to where it leads',
  );
  t.same(
    await held(path.join(data, 'pg-link', 'wal', 'x')),
    { mountpoint: wal, real: path.join(wal, 'x') },
    'and one inside a mount',
  );
  t.same(await held(wal), { mountpoint: wal, real: wal }, 'a mount point itself');
  t.same(await held('/etc/hostname'), { mountpoint: '/', real: '/etc/hostname' }, 'else the root');
  t.same(await held(path.join(dir, 'qrv-cap')), { mountpoint: '/', real: path.join(dir, 'qrv-cap') }, 'not a prefix');
  t.equal(await mountHolding('/etc/hostname', ''), null, 'no mounts: no mount');
});

function fileVolume(name: string, image: string): Volume {
  return {
    name,
    provider: 'file',
    path: image,
    options: {},
    sizeBytes: 64 * 1024 * 1024,
    addedAt: new Date().toISOString(),
    policy: null,
    discovered: false,
  };
}

const sqlite = (db: string, text: string) => execa('sqlite3', ['-batch', '-bail', '-cmd', '.timeout 300', db, text]);

t.test('planWriters() maps a database on a loop-mounted image to that volume, and holds it', async (t) => {
  if (!lane(t, 'writer plan', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'mount'] })) return;
  const dir = await tmpDir(t);
  const { mountpoint } = await mountLoopFs(t, dir, 'ext4', 64);
  const other = await sparseFile(path.join(dir, 'other.img'), 64 * 1024 * 1024);
  const volumes = [fileVolume('other', other), fileVolume('app', path.join(dir, 'ext4.fs.img'))];
  await fs.mkdir(path.join(mountpoint, 'srv'));
  const db = path.join(mountpoint, 'srv', 'app.db');
  const db2 = path.join(mountpoint, 'srv', 'two.db');
  for (const file of [db, db2]) await sqlite(file, 'PRAGMA journal_mode=WAL; CREATE TABLE t(n)');

  const plan = await planWriters(volumes, [`sqlite:${db}`, `sqlite:${path.join(mountpoint, 'srv', '*.db')}`]);
  t.same(
    plan.objects.map((o) => o.name),
    ['app.db', 'two.db'],
    'each object once, though named twice',
  );
  t.same(planVolumes(plan), ['app'], 'on the volume app alone');
  const places = plan.placesOf.get(`sqlite:${db}`);
  t.same(places?.[0], { path: db, volume: 'app', inside: '/srv/app.db' }, 'the path inside its filesystem');
  t.same(
    places?.map((p) => p.inside),
    ['/srv/app.db', '/srv/app.db-wal', '/srv/app.db-shm', '/srv/app.db-journal'],
    'its companions too, that do not exist yet',
  );

  const held = await HeldWriters.hold(plan, { label: 'plan', timeoutMs: 2000 });
  t.equal(held.methods().length, 2, `both held: ${held.methods().join('; ')}`);
  await t.rejects(sqlite(db, 'INSERT INTO t VALUES (1)'), /database is locked/, 'a write waits');
  await t.rejects(
    sqlite(db2, 'INSERT INTO t VALUES (1)'),
    /database is locked/,
    'in the other database of its folder too',
  );
  const records = await held.release();
  await sqlite(db, 'INSERT INTO t VALUES (1)');
  t.pass('and commits once released');
  const rows = objectRows(plan, records, 'app');
  t.same(
    rows.map((r) => [r.writer, r.name, r.position !== null]),
    [
      ['sqlite', 'app.db', true],
      ['sqlite', 'two.db', true],
    ],
    "the volume's snapshot row records both, with their positions",
  );
  t.same(objectRows(plan, records, 'other'), [], 'the other volume holds none');
});

t.test('a hold that fails part-way lets go of what it held', async (t) => {
  if (!lane(t, 'writer plan', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'mount'] })) return;
  const dir = await tmpDir(t);
  const { mountpoint } = await mountLoopFs(t, dir, 'ext4', 64);
  const volumes = [fileVolume('app', path.join(dir, 'ext4.fs.img'))];
  const first = path.join(mountpoint, 'first.db');
  const second = path.join(mountpoint, 'second.db');
  for (const file of [first, second]) await sqlite(file, 'CREATE TABLE t(n)');
  const plan = await planWriters(volumes, [`sqlite:${first}`, `sqlite:${second}`]);
  t.equal(plan.instances.length, 2, 'two instances');
  await fs.writeFile(second, 'no longer a database');
  await t.rejects(HeldWriters.hold(plan, { label: 'x', timeoutMs: 2000 }), { code: 'writer-failed' });
  await sqlite(first, 'INSERT INTO t VALUES (1)');
  t.pass('the first, held before the second failed, is writable');
});

t.test('planWriters() refuses a database on no volume of the catalog, and one that is not there', async (t) => {
  if (!lane(t, 'writer plan', { root: true, tools: ['sqlite3'] })) return;
  const dir = await tmpDir(t);
  const db = path.join(dir, 'app.db');
  await sqlite(db, 'CREATE TABLE t(n)');
  await t.rejects(planWriters([], [`sqlite:${db}`]), {
    code: 'object-unmapped',
    message: `${db} (of sqlite:${db}) is on no volume qrv knows`,
  });
  await t.rejects(planWriters([], [`sqlite:${dir}/none.db`]), { code: 'unknown-object' });
  await t.rejects(planWriters([], [`mysql:main/x`]), { code: 'unknown-writer' });
});
