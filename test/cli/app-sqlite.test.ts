// Issue 15: an SQLite database protected by name. A writer commits numbered transactions (one row
// each) into a WAL-mode database on a loop-mounted ext4 volume while `qrv run` snapshots it with
// the sqlite writer holding its lock; the database recovered by name from the QRV passes
// integrity_check and holds a gap-free prefix 1..K, K at least what was committed before the
// run began. A writer session killed while held, and a lock held by another connection past
// the timeout, each give one line and leave nothing behind.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import t, { type Test } from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const sql = async (db: string, text: string) => (await execa('sqlite3', ['-batch', '-bail', db, text])).stdout.trim();

/** A volume "app" (a loop-mounted ext4 image) holding a WAL-mode database with table t(n). */
async function scene(t: Test, type: 'ext4' | 'xfs' = 'ext4') {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const { mountpoint } = await mountLoopFs(t, dir, type, type === 'xfs' ? 320 : 64);
  const db = path.join(mountpoint, 'app.db');
  await sql(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(n INTEGER PRIMARY KEY);');
  t.equal((await qrv(home, ['volume', 'add', 'app', '--path', path.join(dir, `${type}.fs.img`)])).exitCode, 0);
  const added = await qrv(home, ['subclient', 'add', 'appsc', '--object', `sqlite:${db}`]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, db };
}

/** Commits INSERT n for n = 1, 2, … one transaction each, until killed (in teardown, waited for). */
function startWriter(t: Test, db: string): ResultPromise {
  // about 200 a second: enough to be mid-transaction at any moment, not enough to fill the volume with WAL
  const script = `i=1; while :; do echo "INSERT INTO t VALUES($i);"; i=$((i+1)); sleep 0.005; done`;
  const child = execa('sh', ['-c', `${script} | sqlite3 -batch -cmd '.timeout 10000' ${db}`], { reject: false });
  t.teardown(async () => {
    child.kill('SIGKILL');
    await execa('pkill', ['-KILL', '-f', `sqlite3 -batch -cmd .timeout 10000 ${db}`], { reject: false });
    await child;
  });
  return child;
}

async function count(db: string): Promise<number> {
  return Number(
    await execa('sqlite3', ['-batch', '-cmd', '.timeout 10000', db, 'SELECT count(*) FROM t']).then((r) => r.stdout),
  );
}

for (const type of ['ext4', 'xfs'] as const)
  t.test(
    `a database under a writer, on ${type}, comes back by name with a gap-free prefix of its transactions`,
    async (t) => {
      if (!lane(t, 'sqlite writer', { root: true, tools: ['sqlite3', `mkfs.${type}`, 'losetup', 'fsfreeze'] })) return;
      const { dir, home, db } = await scene(t, type);
      startWriter(t, db);
      while ((await count(db)) < 200) await new Promise((resolve) => setTimeout(resolve, 50));
      const before = await count(db);
      const run = await qrvJson(home, ['run', 'appsc', '--to', path.join(dir, 'dest.img')]);
      t.equal(run.run.exitCode, 0, run.run.stderr);
      const snapshot = run.summary.snapshot;
      t.equal(snapshot.objects.length, 1, 'the snapshot row records the database');
      t.match(snapshot.objects[0], {
        writer: 'sqlite',
        name: 'app.db',
        places: [{ volume: 'app', inside: '/app.db' }],
      });
      t.match(snapshot.objects[0].position, /^\d+ pages$/);
      t.ok(
        run.lines.some((l) => l.message_type === 'step' && l.step === 'hold writers' && l.state === 'done'),
        'held',
      );
      t.match(run.summary.qrv.objects?.[0], { writer: 'sqlite', name: 'app.db' }, 'the QRV carries the object');

      const out = path.join(dir, 'out.db');
      const recovered = await qrv(home, ['recover', `sqlite:${db}`, '--to', out]);
      t.equal(recovered.exitCode, 0, recovered.stderr);
      t.match(recovered.stdout, /integrity_check ok/);
      t.equal(await sql(out, 'PRAGMA integrity_check;'), 'ok');
      const [k, low, sum] = (await sql(out, 'SELECT count(*), min(n), sum(n) FROM t;')).split('|').map(Number) as [
        number,
        number,
        number,
      ];
      t.ok(k >= before, `holds every transaction committed before the run (${k} ≥ ${before})`);
      t.equal(low, 1);
      t.equal(sum, (k * (k + 1)) / 2, 'gap-free: 1..K');
      t.equal((await fs.stat(out)).mode & 0o777, 0o600, 'written 0600');
      t.equal((await qrv(home, ['recover', `sqlite:${db}`, '--to', out])).exitCode, 4, 'an existing file is refused');
    },
  );

t.test('the writer session killed while it holds the lock: one line, nothing kept', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'fsfreeze'] })) return;
  const { dir, home, db } = await scene(t);
  // "[n]" matches the session's "-noheader" but not this hook's own command line (nor qrv's)
  const kill = `pkill -KILL -f -- '-[n]oheader -list file:${db}'`;
  const run = await qrv(home, ['run', 'appsc', '--to', path.join(dir, 'dest.img'), '--hook', `post-snapshot=${kill}`]);
  t.equal(run.exitCode, 7, run.stderr);
  t.match(
    run.stderr,
    /^qrv: SQLite database \S+app\.db was not held to the end of the snapshot: sqlite3 ended while it held the lock .*$/,
  );
  const listed = await qrvJson(home, ['list', '--all']);
  t.same(
    listed.summary.snapshots.filter((s: { state: string }) => s.state === 'ready'),
    [],
    'no snapshot is kept',
  );
  t.same(listed.summary.qrvs, [], 'no QRV was made');
  t.equal(await sql(db, 'INSERT INTO t VALUES(1); SELECT count(*) FROM t;'), '1', 'the database takes writes again');
});

t.test('a lock held by another connection past the timeout: writer-timeout, nothing kept', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'fsfreeze'] })) return;
  const { dir, home, db } = await scene(t);
  // its own process group, all of it killed in teardown (the shell, sleep and sqlite3)
  const holder = execa('sh', ['-c', `(echo 'BEGIN IMMEDIATE;'; sleep 30) | sqlite3 ${db}`], {
    reject: false,
    detached: true,
  });
  t.teardown(async () => {
    if (holder.pid) process.kill(-holder.pid, 'SIGKILL');
    await holder;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const started = Date.now();
  const run = await qrv(home, ['run', 'appsc', '--to', path.join(dir, 'dest.img'), '--hook-timeout', '2s']);
  t.equal(run.exitCode, 7, run.stderr);
  t.match(run.stderr, /writer-timeout|could not be brought to rest/);
  t.ok(Date.now() - started < 20_000, 'gives up about when the timeout says');
  const listed = await qrvJson(home, ['list', '--all']);
  t.same(
    listed.summary.snapshots.filter((s: { state: string }) => s.state === 'ready'),
    [],
  );
});

t.test('qrv cron snapshots a sub-client of objects on its schedule, with the writer held', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'fsfreeze'] })) return;
  const { home, db } = await scene(t);
  const policy = await qrv(home, ['policy', 'add', 'often', '--copy', 'never', '--schedule', '* * * * * *']);
  t.equal(policy.exitCode, 0, policy.stderr);
  t.equal((await qrv(home, ['subclient', 'set', 'appsc', '--policy', 'often'])).exitCode, 0);
  await new Promise((resolve) => setTimeout(resolve, 1100)); // the every-second schedule is due
  const cron = await qrvJson(home, ['cron']);
  t.equal(cron.run.exitCode, 0, cron.run.stderr);
  const listed = await qrvJson(home, ['list']);
  const snapshot = listed.summary.snapshots.find((s: { subclient: string }) => s.subclient === 'appsc');
  t.match(snapshot, { volume: 'app', state: 'ready', objects: [{ writer: 'sqlite', name: 'app.db' }] });
  t.match(snapshot.objects[0].position, /^\d+ pages$/, 'recorded while held');
  t.equal(await sql(db, 'INSERT INTO t VALUES(7); SELECT count(*) FROM t;'), '1', 'let go after');
});

t.test('qrv snap --object: the volumes it spans, the writer held, the object recorded', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup', 'fsfreeze'] })) return;
  const { home, db } = await scene(t);
  const snap = await qrvJson(home, ['snap', '--object', `sqlite:${db}`, '--label', 'by-object']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  t.match(snap.summary.snapshots, [
    { volume: 'app', label: 'by-object', objects: [{ writer: 'sqlite', name: 'app.db' }] },
  ]);
  const missing = await qrv(home, ['snap', '--object', `sqlite:${path.dirname(db)}/none.db`]);
  t.equal(missing.exitCode, 3, 'an object that is not there');
  t.match(missing.stderr, /^qrv: no application object sqlite:\S+none\.db is on this host/);
});
