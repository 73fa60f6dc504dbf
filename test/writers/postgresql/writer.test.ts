// The PostgreSQL writer with real clusters (Debian's PostgreSQL 15 as the postgres user on a
// private unix socket, no TCP): the writer contract — held means a backup is in progress, since
// pg_backup_start blocks no writer — and pg_wal elsewhere, a role that is no superuser, the server
// stopped while held, a cluster qrv cannot reach beside one it can; the rules that name a
// cluster, and postmaster.pid and a Debian postmaster's command line as captured from real ones.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { isQrvError } from '../../../src/core/errors.ts';
import {
  clusterNameOf,
  debianClusterOf,
  parsePostmasterPid,
  type Cluster,
} from '../../../src/writers/postgresql/clusters.ts';
import { instanceName, postgresqlWriter } from '../../../src/writers/postgresql/writer.ts';
import type { WriterObject } from '../../../src/writers/writer.ts';
import { lane } from '../../helpers/lanes.ts';
import { givePostgres, PG_BIN, startCluster, type PgCluster } from '../../helpers/postgres.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { writerContract } from '../contract.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'fixtures', 'writers');
const NEEDS = { root: true, tools: ['runuser', `${PG_BIN}/initdb`] };
let made = 0;

/** initdb into a new folder under `dir` (postgres's), as startCluster would. */
async function initdb(dir: string, options: { superuser?: string; walDir?: string } = {}): Promise<string> {
  const dataDir = path.join(dir, `initdb-${++made}`);
  await givePostgres(dataDir);
  const args = ['-D', dataDir, '-A', 'trust', '-U', options.superuser ?? 'postgres', '--no-sync', '-E', 'UTF8'];
  if (options.walDir) {
    await givePostgres(options.walDir);
    args.push('--waldir', options.walDir);
  }
  await execa('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'initdb'), ...args, '--locale', 'C']);
  return dataDir;
}

// initdb takes seconds: the file's data folders are made at once, side by side, and copied
let templates: Promise<{ plain: string; admin: string; shared: PgCluster }> | null = null;
function made3(): Promise<{ plain: string; admin: string; shared: PgCluster }> {
  templates ??= (async () => {
    const dir = await tmpDir(t);
    const [plain, admin, walled] = await Promise.all([
      initdb(dir),
      initdb(dir, { superuser: 'admin' }),
      initdb(dir, { walDir: path.join(dir, 'wal') }),
    ]);
    const shared = await started(t, walled);
    return { plain, admin, shared };
  })();
  return templates;
}

/** A cluster on `dataDir`, named uniquely on this host (other tests run clusters beside it), with a database app. */
async function started(t: Test, dataDir: string, superuser?: string): Promise<PgCluster> {
  const name = `qrvw${process.pid}n${++made}`;
  const pg = await startCluster(t, { dataDir, name, existing: true, ...(superuser ? { superuser } : {}) });
  await pg.sql('CREATE DATABASE app');
  await pg.sql('CREATE TABLE t(n int)', 'app');
  return pg;
}

/** A cluster of its own (a copy of a template data folder). */
async function cluster(t: Test, options: { superuser?: string } = {}): Promise<PgCluster> {
  const { plain, admin } = await made3();
  const dataDir = path.join(await tmpDir(t), 'data');
  await fs.chmod(path.dirname(dataDir), 0o711);
  await execa('cp', ['-a', options.superuser ? admin : plain, dataDir]);
  return started(t, dataDir, options.superuser);
}

/** Whether qrv's session (application_name qrv) is in a backup it started, as pg_stat_activity says. */
async function backupRunning(pg: PgCluster): Promise<boolean> {
  const sessions = await pg.sql(
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qrv' AND query LIKE 'SELECT pg_backup_start(%'",
  );
  return Number(sessions) > 0;
}

async function qrvSessions(pg: PgCluster, ms = 5000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const count = Number(await pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qrv'"));
    if (count === 0 || Date.now() > deadline) return count;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function theInstance(pattern: string): Promise<WriterObject['instance']> {
  const [object] = await postgresqlWriter.find(pattern);
  if (!object) throw new Error(`${pattern} found nothing`);
  return object.instance;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

t.test('the writer contract, with a real cluster', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  writerContract(t, {
    writer: postgresqlWriter,
    gone: ['stopped'],
    goneSays: { stopped: /connection to server on socket .* failed: No such file or directory/ },
    make: async (t, own) => {
      const pg = own ? await cluster(t) : (await made3()).shared;
      const wal = await fs.realpath(path.join(pg.dataDir, 'pg_wal'));
      return {
        pattern: `${pg.name}/app`,
        expect: { instance: pg.name, name: 'app', paths: [pg.dataDir, wal] },
        nothing: `${pg.name}/nodb`,
        write: async () => {
          await pg.sql('INSERT INTO t VALUES (1)', 'app');
          return 'committed';
        },
        isHeld: () => backupRunning(pg),
        checkRecord: (t, record, label) => {
          const text = record.files['backup_label'] ?? '';
          const start = /^START WAL LOCATION: (\S+)/m.exec(text)?.[1];
          t.ok(start, `backup_label holds the START WAL LOCATION (${start})`);
          t.equal(record.position?.split(' ')[0], start, 'the position is where the backup started');
          t.match(text, new RegExp(`^LABEL: ${label}$`, 'm'), 'and the label');
          t.match(text, /^BACKUP METHOD: streamed$/m, 'of a non-exclusive backup');
        },
        makeGone: () => pg.stop('fast'),
      };
    },
  });
});

t.test('a cluster with pg_wal in another folder lists both; other clusters and databases are not found', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const pg = (await made3()).shared;
  const wal = path.join(path.dirname(pg.dataDir), 'wal');
  t.ok((await fs.lstat(path.join(pg.dataDir, 'pg_wal'))).isSymbolicLink(), 'pg_wal is a link (initdb --waldir)');
  const found = await postgresqlWriter.find(`${pg.name}/*`);
  t.same(found.map((o) => o.name).sort(), ['app', 'postgres'], 'CLUSTER/* finds its databases, no templates');
  t.same(found[0]?.instance.paths, [pg.dataDir, wal], 'the data folder and the real pg_wal');
  t.same(found[0]?.instance.reach, {
    major: '15',
    port: '5432',
    socketDir: pg.socketDir,
    owner: 'postgres',
    dataDir: pg.dataDir,
  });
  t.same(await postgresqlWriter.find('no-such-cluster/*'), [], 'a cluster that does not run');
  const all = await postgresqlWriter.discover();
  t.ok(
    all.some((o) => o.instance.name === pg.name && o.name === 'app'),
    'discover() finds it too',
  );
});

t.test('a role that is no superuser: hold() fails naming the refusal, and no backup is left running', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const pg = await cluster(t, { superuser: 'admin' });
  await pg.sql('CREATE ROLE postgres LOGIN');
  const instance = await theInstance(`${pg.name}/app`);
  const error = await failure(postgresqlWriter.hold(instance, { label: 'refused', timeoutMs: 5000 }));
  t.ok(isQrvError(error) && error.code === 'writer-failed', `writer-failed (${String(error)})`);
  t.match(String(error), /must be superuser|permission denied/, 'names the refusal');
  t.notMatch(String(error), /\n|runuser/, 'in one line, naming no runuser');
  t.match(isQrvError(error) ? error.hint : '', /superuser/, 'the hint says what it needs');
  t.equal(await qrvSessions(pg), 0, "qrv's session is gone, and with it any backup");
});

t.test('PostgreSQL stopped while held: release() fails with writer-failed in one line', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const pg = await cluster(t);
  const held = await postgresqlWriter.hold(await theInstance(`${pg.name}/app`), { label: 'x', timeoutMs: 5000 });
  t.ok(await backupRunning(pg), 'held');
  await pg.stop('fast');
  const started = Date.now();
  const error = await failure(held.release());
  t.ok(isQrvError(error) && error.code === 'writer-failed', `writer-failed (${String(error)})`);
  t.notMatch(String(error), /\n|runuser/, 'in one line, naming no runuser');
  t.match(String(error), /was not held to the end/, 'says the hold did not last');
  t.ok(Date.now() - started < 5000, 'at once');
  await held.abandon();
});

t.test('a checkpoint that does not end in the timeout fails the hold with writer-timeout', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const pg = (await made3()).shared;
  const checkpointer = Number(await pg.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"));
  t.ok(checkpointer > 0, `the checkpointer is ${checkpointer}`);
  process.kill(checkpointer, 'SIGSTOP');
  const started = Date.now();
  const error = await failure(
    postgresqlWriter.hold(await theInstance(`${pg.name}/app`), { label: 'slow', timeoutMs: 1000 }),
  ).finally(() => process.kill(checkpointer, 'SIGCONT'));
  const took = Date.now() - started;
  t.ok(isQrvError(error) && error.code === 'writer-timeout', `writer-timeout (${String(error)})`);
  t.match(isQrvError(error) ? error.hint : '', /did not answer in time/, 'the hint says it took too long');
  t.ok(took < 4000, `within about the timeout (${took} ms)`);
  t.equal(await qrvSessions(pg), 0, 'no qrv session left');
});

t.test(
  'checkpoint spread: no immediate checkpoint, pg_backup_start paced like the server, the time limit grown by it',
  async (t) => {
    if (!lane(t, 'postgresql writer', NEEDS)) return;
    const pg = await cluster(t);
    // the server's own pacing: 10 % of 30 s, so the spread checkpoint takes about 3 s here
    await pg.sql("ALTER SYSTEM SET checkpoint_timeout = '30s'");
    await pg.sql('ALTER SYSTEM SET checkpoint_completion_target = 0.1');
    await pg.sql('SELECT pg_reload_conf()');
    const instance = await theInstance(`${pg.name}/app`);
    const starts = async () =>
      (await fs.readFile(path.join(pg.socketDir, 'log'), 'utf8'))
        .split('\n')
        .filter((l) => /checkpoint starting:/.test(l));
    const heldWith = async (checkpoint: 'fast' | 'spread') => {
      await pg.sql('INSERT INTO t SELECT generate_series(1, 300000)', 'app'); // ≈ 1300 dirty buffers
      const before = (await starts()).length;
      const started = Date.now();
      const held = await postgresqlWriter.hold(instance, { label: checkpoint, timeoutMs: 1000, checkpoint });
      const took = Date.now() - started;
      const record = await held.release();
      return { held, took, record, checkpoints: (await starts()).slice(before) };
    };
    const spread = await heldWith('spread');
    t.match(spread.held.method, /^spread checkpoint, pg_backup_start at [0-9A-F]+\/[0-9A-F]+$/, spread.held.method);
    t.ok(
      spread.checkpoints.some((l) => /checkpoint starting: force wait$/.test(l)),
      `a paced checkpoint, requested by pg_backup_start (${spread.checkpoints.join(' | ')})`,
    );
    t.notOk(
      spread.checkpoints.some((l) => /immediate/.test(l)),
      'no immediate one',
    );
    t.ok(spread.took > 1000, `it took longer than the 1 s time limit (${spread.took} ms), which grew by the pace`);
    t.match(spread.record.files['backup_label'] ?? '', /^LABEL: spread$/m, 'and recorded its backup_label');
    const fast = await heldWith('fast');
    t.ok(
      fast.checkpoints.some((l) => /checkpoint starting: immediate force wait$/.test(l)),
      `fast: an immediate checkpoint (${fast.checkpoints.join(' | ')})`,
    );
    t.ok(fast.took < spread.took, `fast took less (${fast.took} ms)`);
    t.equal(await qrvSessions(pg), 0, 'no qrv session left');
  },
);

t.test('a cluster qrv cannot reach does not hide the one it names', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const good = (await made3()).shared;
  const bad = await cluster(t);
  await fs.writeFile(path.join(bad.dataDir, 'pg_hba.conf'), 'local all admin trust\nlocal all all reject\n');
  await bad.sql('SELECT pg_reload_conf()');
  t.equal((await postgresqlWriter.find(`${good.name}/app`)).length, 1, 'the reachable one is found');
  const error = await failure(postgresqlWriter.find(`${bad.name}/app`));
  t.ok(isQrvError(error), `naming the other says why it cannot be reached (${String(error)})`);
});

t.test('a tablespace elsewhere is one of the paths, and release() returns its tablespace_map', async (t) => {
  if (!lane(t, 'postgresql writer', NEEDS)) return;
  const pg = (await made3()).shared;
  const location = path.join(await tmpDir(t), 'ts');
  await givePostgres(location);
  await pg.sql(`CREATE TABLESPACE qrvts LOCATION '${location}'`);
  t.teardown(() => pg.sql('DROP TABLESPACE qrvts'));
  const instance = await theInstance(`${pg.name}/app`);
  t.ok(instance.paths.includes(location), `its paths name ${location}`);
  const held = await postgresqlWriter.hold(instance, { label: 'with a tablespace', timeoutMs: 5000 });
  const record = await held.release();
  const oid = await pg.sql("SELECT oid FROM pg_tablespace WHERE spcname = 'qrvts'");
  t.equal(record.files['tablespace_map']?.trim(), `${oid} ${location}`, 'the tablespace_map names it');
  t.match(record.files['backup_label'], /^LABEL: with a tablespace$/m, 'beside the backup_label');
});

function clusterOf(fields: Partial<Cluster>): Cluster {
  return {
    pid: 1,
    dataDir: '/srv/pg',
    major: '15',
    port: '5433',
    socketDir: '/run/pg',
    owner: 'postgres',
    debianName: null,
    nameOnCommandLine: null,
    walDir: '/srv/pg/pg_wal',
    tablespaces: [],
    ...fields,
  };
}

t.test('a cluster is named by its Debian name, else its cluster_name, else its port', async (t) => {
  t.equal(instanceName(clusterOf({ debianName: 'main' }), 'billing'), 'main', 'Debian name first');
  t.equal(instanceName(clusterOf({}), 'billing'), 'billing', 'cluster_name');
  t.equal(instanceName(clusterOf({}), '15/main'), 'main', "Debian's own cluster_name, 15/main");
  t.equal(instanceName(clusterOf({}), ''), 'port-5433', 'none: its port');
  t.equal(instanceName(clusterOf({}), 'two words'), 'port-5433', 'one that cannot be in an object id: its port');
  t.equal(instanceName(clusterOf({}), 'a:b'), 'port-5433', 'nor a colon');
});

t.test('postmaster.pid and a Debian postmaster command line, as captured from real ones', async (t) => {
  const fixture = (name: string) => fs.readFile(path.join(FIXTURES, name), 'utf8');
  t.same(parsePostmasterPid(await fixture('test-cluster-postmaster.pid')), {
    pid: 32122,
    dataDir: '/tmp/cap-Z9KF/data',
    port: '5433',
    socketDir: '/tmp/cap-Z9KF/sock',
  });
  t.same(parsePostmasterPid(await fixture('debian-postmaster.pid')), {
    pid: 31730,
    dataDir: '/var/lib/postgresql/15/main',
    port: '5432',
    socketDir: '/var/run/postgresql',
  });
  t.equal(parsePostmasterPid(''), null, 'empty');
  t.equal(parsePostmasterPid('abc\n/srv/pg\n'), null, 'no pid');
  t.equal(parsePostmasterPid('123\n'), null, 'no data folder');
  const cmdline = (await fixture('debian-postmaster.cmdline')).split('\0');
  t.same(debianClusterOf(cmdline), { major: '15', name: 'main' }, 'pg_ctlcluster 15 main start');
  t.equal(clusterNameOf(cmdline), null, "Debian's sets no cluster_name on the command line");
  t.equal(clusterNameOf(['postgres', '-D', '/d', '-c', 'cluster_name=qrvtest']), 'qrvtest', '-c NAME=VALUE');
  t.equal(clusterNameOf(['postgres', '-ccluster_name=x', '-D', '/d']), 'x', '-cNAME=VALUE');
  t.equal(clusterNameOf(['postgres', '--cluster-name=y']), 'y', '--cluster-name=VALUE');
  t.same(debianClusterOf(['postgres', '--config-file=/etc/postgresql/16/web/postgresql.conf']), {
    major: '16',
    name: 'web',
  });
  t.same(debianClusterOf(['postgres', '-cconfig_file=/etc/postgresql/13/x/postgresql.conf']), {
    major: '13',
    name: 'x',
  });
  const test = (await fixture('test-cluster-postmaster.pid')).split('\n')[1] as string;
  t.equal(debianClusterOf(['/usr/lib/postgresql/15/bin/postgres', '-D', test]), null, 'not a Debian cluster');
  t.equal(debianClusterOf(['postgres', '-c', 'config_file=/srv/etc/postgresql/15/main/postgresql.conf']), null);
});
