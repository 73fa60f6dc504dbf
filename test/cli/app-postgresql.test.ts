// Issue 15: a PostgreSQL database protected by name. A real cluster (Debian's PostgreSQL, run by
// the test on a private socket) keeps its data folder on one loop-mounted ext4 volume and pg_wal
// and a tablespace on another; a sub-client names the database, and `qrv run` snapshots both volumes in one group
// while pgbench writes. The QRVs' cluster starts, pg_amcheck finds nothing, and pgbench's
// balances agree; the database recovered by name holds the table as it was at the snapshot (its
// checksum), every ledger row committed before the run and none missing in between. Refusals:
// a role that is no superuser, the server stopped while held, the backend terminated while held —
// each is one line, and no snapshot or QRV is kept.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import t, { type Test } from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { givePostgres, PG_BIN, startCluster, type PgCluster } from '../helpers/postgres.ts';
import { tmpDir } from '../helpers/tmp.ts';

const TOOLS = [
  'mkfs.ext4',
  'losetup',
  'fsfreeze',
  `${PG_BIN}/initdb`,
  `${PG_BIN}/pgbench`,
  `${PG_BIN}/pg_amcheck`,
  'setpriv',
];
const BALANCES =
  'SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)';
const CHECKSUM = "SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM fixed";

/** Two volumes (data, wal) and a cluster on them named `name`, with a database "billing". */
async function scene(t: Test, name: string, superuser?: string) {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  for (const sub of ['d', 'w', 'dest']) await fs.mkdir(path.join(dir, sub));
  const data = await mountLoopFs(t, path.join(dir, 'd'), 'ext4', 160);
  const wal = await mountLoopFs(t, path.join(dir, 'w'), 'ext4', 160);
  const cluster = await startCluster(t, {
    dataDir: path.join(data.mountpoint, 'pg', 'data'),
    walDir: path.join(wal.mountpoint, 'pg_wal'),
    name,
    ...(superuser ? { superuser } : {}),
  });
  await cluster.sql('CREATE DATABASE billing');
  for (const [volume, sub] of [
    ['pgdata', 'd'],
    ['pgwal', 'w'],
  ] as const)
    t.equal((await qrv(home, ['volume', 'add', volume, '--path', path.join(dir, sub, 'ext4.fs.img')])).exitCode, 0);
  const added = await qrv(home, ['subclient', 'add', 'billing', '--object', `postgresql:${name}/billing`]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, cluster };
}

/**
 * The QRVs' own cluster, by hand: each QRV image copied (the QRVs stay as they are), mounted, the
 * data folder's pg_wal and tablespace links pointed at the copy of the WAL volume, and a server
 * started on it.
 */
async function clusterOnQrvs(
  t: Test,
  dir: string,
  qrvs: Array<{ volume: string; destination: string }>,
): Promise<PgCluster> {
  const mounts: Record<string, string> = {};
  for (const q of qrvs) {
    const image = path.join(dir, `${q.volume}.copy.img`);
    await execa('cp', ['--sparse=always', q.destination, image]);
    const mountpoint = path.join(dir, `${q.volume}.copy`);
    await fs.mkdir(mountpoint);
    await execa('mount', ['-o', 'loop', image, mountpoint]);
    t.teardown(() => execa('umount', [mountpoint], { reject: false }));
    mounts[q.volume] = mountpoint;
  }
  const dataDir = path.join(mounts['pgdata'] as string, 'pg', 'data');
  await fs.rm(path.join(dataDir, 'pg_wal'));
  await fs.symlink(path.join(mounts['pgwal'] as string, 'pg_wal'), path.join(dataDir, 'pg_wal'));
  // the tablespace link too: it points into the production WAL volume's mount
  for (const oid of await fs.readdir(path.join(dataDir, 'pg_tblspc'))) {
    const link = path.join(dataDir, 'pg_tblspc', oid);
    const target = (await fs.readlink(link)).replace(path.join(dir, 'w', 'ext4.mnt'), mounts['pgwal'] as string);
    await fs.rm(link);
    await fs.symlink(target, link);
  }
  await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
  return startCluster(t, { dataDir, name: 'qrvcopy', existing: true });
}

function pgbench(cluster: PgCluster, args: string[]): ResultPromise {
  return execa('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pgbench`, '-h', cluster.socketDir, ...args, 'billing'], {
    reject: false,
    cwd: '/',
  });
}

t.test('under pgbench, a cluster on two volumes is snapshotted in one group and comes back whole', async (t) => {
  if (!lane(t, 'postgresql writer', { root: true, tools: TOOLS })) return;
  const { dir, home, cluster } = await scene(t, 'qrvbench');
  await pgbench(cluster, ['-i', '-s', '1', '-q']);
  // a tablespace on the WAL's volume: a third path, a link in pg_tblspc
  const spare = path.join(dir, 'w', 'ext4.mnt', 'spare');
  await givePostgres(spare);
  await cluster.sql(`CREATE TABLESPACE spare LOCATION '${spare}'`);
  await cluster.sql(
    'CREATE TABLE fixed TABLESPACE spare AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g; CREATE TABLE ledger(n int PRIMARY KEY)',
    'billing',
  );
  const before = await cluster.sql(CHECKSUM, 'billing');
  // settings in the copy's postgresql.auto.conf that would reach out of a server started on it
  const archive = path.join(dir, 'archive');
  await givePostgres(archive);
  await cluster.sql(`ALTER SYSTEM SET archive_mode = 'on'`);
  await cluster.sql(`ALTER SYSTEM SET archive_command = 'touch ${archive}/%f'`);
  await cluster.sql(`ALTER SYSTEM SET restore_command = 'touch ${archive}/restored-%f'`);
  const load = pgbench(cluster, ['-c', '4', '-T', '8']);
  t.teardown(async () => void (await load.catch(() => undefined)));
  const ledger = execa(
    'sh',
    [
      '-c',
      `i=1; while :; do echo "INSERT INTO ledger VALUES($i);"; i=$((i+1)); sleep 0.01; done | runuser -u postgres -- ${PG_BIN}/psql -X -q -h ${cluster.socketDir} -d billing`,
    ],
    { reject: false, detached: true, cwd: '/' },
  );
  t.teardown(async () => {
    if (ledger.pid) process.kill(-ledger.pid, 'SIGKILL');
    await ledger;
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const committed = Number(await cluster.sql('SELECT count(*) FROM ledger', 'billing'));

  const run = await qrvJson(home, ['run', 'billing', '--to', path.join(dir, 'dest')], {});
  t.equal(run.run.exitCode, 0, run.run.stderr);
  const snapshots = run.summary.snapshots as Array<{ volume: string; groupId: string; objects: any[] }>;
  t.same(snapshots.map((s) => s.volume).sort(), ['pgdata', 'pgwal'], 'both volumes, one group');
  t.equal(new Set(snapshots.map((s) => s.groupId)).size, 1);
  const object = snapshots[0]!.objects[0];
  t.match(object, { writer: 'postgresql', instance: 'qrvbench', name: 'billing' });
  t.match(object.position, /^[0-9A-F]+\/[0-9A-F]+ \(backup stopped at [0-9A-F]+\/[0-9A-F]+\)$/);
  t.match(object.files.backup_label, /^START WAL LOCATION: [\s\S]*\nLABEL: qrv g-/);
  t.same(
    object.places.map((p: { volume: string }) => p.volume),
    ['pgdata', 'pgwal', 'pgwal'],
    'data folder, pg_wal and the tablespace, each on its volume',
  );
  // production moves on: the fixed table changes after the snapshot
  await cluster.sql("UPDATE fixed SET v = 'changed'", 'billing');

  const resolved = await qrv(home, ['resolve', 'postgresql:qrvbench/billing', '--as-of', 'now']);
  t.equal(resolved.exitCode, 0, resolved.stderr);
  t.match(
    resolved.stdout,
    /^postgresql:qrvbench\/billing as of .*: group g-\S+ of .*: pgdata from q-\S+, pgwal from q-\S+/,
  );

  const copy = await clusterOnQrvs(t, dir, run.summary.qrvs);
  const [qa, qb, qc, qd] = (await copy.sql(BALANCES, 'billing')).split('|');
  t.ok(
    qa === qb && qb === qc && qc === qd,
    `the QRVs' cluster starts, and its balances agree (${qa} ${qb} ${qc} ${qd})`,
  );
  const amcheck = await execa(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      `${PG_BIN}/pg_amcheck`,
      '-h',
      copy.socketDir,
      '--install-missing',
      '--heapallindexed',
      '-d',
      'billing',
    ],
    { reject: false, cwd: '/' },
  );
  t.equal(amcheck.exitCode, 0, `pg_amcheck finds nothing: ${amcheck.stdout}${amcheck.stderr}`);
  await copy.stop();

  const dump = path.join(dir, 'billing.dump');
  // this test's own $TMPDIR for the clones, so that other tests' clones are not taken for leftovers
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(tmp, { mode: 0o711 });
  await fs.chmod(tmp, 0o711);
  const recovered = await qrv(home, ['recover', 'postgresql:qrvbench/billing', '--to', dump], { TMPDIR: tmp });
  t.equal(recovered.exitCode, 0, recovered.stderr);
  t.match(recovered.stdout, /pg_dump custom format/);
  const into = await qrv(home, ['recover', 'postgresql:qrvbench/billing', '--into', 'billing_then'], { TMPDIR: tmp });
  t.equal(into.exitCode, 0, into.stderr);
  t.equal(await cluster.sql(CHECKSUM, 'billing_then'), before, 'the table as it was at the snapshot');
  t.same(
    await fs.readdir(archive),
    [],
    "the throwaway server archived nothing, restored nothing (the copy's settings did not apply)",
  );
  const [a, b, c, d] = (await cluster.sql(BALANCES, 'billing_then')).split('|');
  t.ok(a === b && b === c && c === d, `pgbench's balances agree (${a} ${b} ${c} ${d})`);
  const [count, max] = (await cluster.sql('SELECT count(*), coalesce(max(n), 0) FROM ledger', 'billing_then'))
    .split('|')
    .map(Number);
  t.ok(count! >= committed, `every ledger row committed before the run (${count} ≥ ${committed})`);
  t.equal(count, max, 'no ledger row missing in between');
  t.equal(
    (await qrv(home, ['recover', 'postgresql:qrvbench/billing', '--into', 'billing_then'])).exitCode,
    4,
    'an existing database is refused',
  );
  t.equal(
    await cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qrv'"),
    '0',
    'no session of qrv is left',
  );
  t.equal((await execa('findmnt', ['-rn', '-o', 'TARGET'])).stdout.includes(tmp), false, 'no clone is left mounted');
  t.same(await fs.readdir(tmp), [], 'and no work folder is left');
});

async function refused(t: Test, home: string, dir: string, hook?: string) {
  const args = ['run', 'billing', '--to', path.join(dir, 'dest'), ...(hook ? ['--hook', `post-snapshot=${hook}`] : [])];
  const run = await qrv(home, args);
  t.equal(run.exitCode, 7, run.stderr);
  t.equal(run.stderr.split('\n').length, 1, `one line: ${run.stderr}`);
  const listed = await qrvJson(home, ['list', '--all']);
  t.same(
    listed.summary.snapshots.filter((s: { state: string }) => s.state === 'ready'),
    [],
    'no snapshot is kept',
  );
  t.same(listed.summary.qrvs, [], 'no QRV was made');
  return run.stderr;
}

t.test('a role that is no superuser cannot start a backup: one line, nothing kept', async (t) => {
  if (!lane(t, 'postgresql writer', { root: true, tools: TOOLS })) return;
  const { dir, home, cluster } = await scene(t, 'qrvplain', 'admin');
  await cluster.sql('CREATE ROLE postgres LOGIN');
  const said = await refused(t, home, dir);
  t.match(said, /^qrv: PostgreSQL cluster qrvplain could not be brought to rest: .*(superuser|permission denied)/);
});

t.test('the server stopped while it is held: one line, nothing kept', async (t) => {
  if (!lane(t, 'postgresql writer', { root: true, tools: TOOLS })) return;
  const { dir, home, cluster } = await scene(t, 'qrvstop');
  // its own status does not matter (it may see the server gone before its wait): qrv must fail either way
  const stop = `runuser -u postgres -- ${PG_BIN}/pg_ctl -D ${cluster.dataDir} -m fast -w stop; true`;
  const said = await refused(t, home, dir, stop);
  t.match(said, /^qrv: PostgreSQL cluster qrvstop was not held to the end of the snapshot: /);
});

t.test('the backend of its session terminated while it is held: one line, nothing kept', async (t) => {
  if (!lane(t, 'postgresql writer', { root: true, tools: TOOLS })) return;
  const { dir, home, cluster } = await scene(t, 'qrvkill');
  const terminate = `runuser -u postgres -- ${PG_BIN}/psql -X -h ${cluster.socketDir} -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qrv'"`;
  const said = await refused(t, home, dir, terminate);
  t.match(said, /^qrv: PostgreSQL cluster qrvkill was not held to the end of the snapshot: /);
  t.equal(await cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qrv'"), '0');
});

t.test(
  '--checkpoint spread, from the policy or the command line: the cluster is held with a paced checkpoint',
  async (t) => {
    if (!lane(t, 'postgresql writer', { root: true, tools: TOOLS })) return;
    const { home, cluster } = await scene(t, 'qrvspread');
    // the server's own pacing, short for the test: 10 % of 30 s
    await cluster.sql("ALTER SYSTEM SET checkpoint_timeout = '30s'");
    await cluster.sql('ALTER SYSTEM SET checkpoint_completion_target = 0.1');
    await cluster.sql('SELECT pg_reload_conf()');
    const bad = await qrv(home, ['policy', 'add', 'paced', '--checkpoint', 'sometimes']);
    t.equal(bad.exitCode, 2, 'a mode that is neither fast nor spread is a usage error');
    t.match(bad.stderr, /^qrv: --checkpoint "sometimes" is neither fast nor spread \(fast: .*\)\n?$/);
    t.equal((await qrv(home, ['policy', 'add', 'paced', '--checkpoint', 'spread', '--copy', 'never'])).exitCode, 0);
    t.equal((await qrv(home, ['subclient', 'set', 'billing', '--policy', 'paced'])).exitCode, 0);
    const held = (lines: Array<Record<string, unknown>>) =>
      lines.find((l) => l.message_type === 'step' && l.step === 'hold writers' && l.state === 'done')?.detail;
    const run = await qrvJson(home, ['run', 'billing']);
    t.equal(run.run.exitCode, 0, run.run.stderr);
    t.match(held(run.lines), /^postgresql:qrvspread: spread checkpoint, pg_backup_start at /, 'the policy says spread');
    const snap = await qrvJson(home, ['snap', '--object', 'postgresql:qrvspread/billing']);
    t.match(held(snap.lines), /: CHECKPOINT, pg_backup_start at /, 'snap without a policy: fast, the default');
    const spread = await qrvJson(home, ['snap', '--object', 'postgresql:qrvspread/billing', '--checkpoint', 'spread']);
    t.equal(spread.run.exitCode, 0, spread.run.stderr);
    t.match(held(spread.lines), /: spread checkpoint, pg_backup_start at /, '--checkpoint spread');
    const logged = (await fs.readFile(path.join(cluster.socketDir, 'log'), 'utf8')).match(/checkpoint starting: .*/g);
    t.same(
      logged?.filter((l) => /force wait$/.test(l)).map((l) => (l.includes('immediate') ? 'immediate' : 'paced')),
      ['paced', 'immediate', 'immediate', 'paced'],
      "the server's log: the run's paced one, snap's CHECKPOINT and pg_backup_start's, the last snap's paced one",
    );
  },
);
