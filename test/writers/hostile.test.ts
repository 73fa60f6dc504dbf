// The writers against a hostile user on the same host (qrv runs as root): nobody starts a process
// called postgres beside a crafted postmaster.pid and PG_VERSION, and qrv must neither run a
// program of theirs as root nor wait for ever on a FIFO they named like a PostgreSQL file; a
// copy's data folder (its owner's) with a PG_VERSION that is a link or a FIFO, or reached through
// a link that leads out of the clone; nobody's own real cluster named as root's one; a
// transaction prepared in a copy that holds a lock pg_dump waits for.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { isQrvError } from '../../src/core/errors.ts';
import { dataDirIn, dumpTo, productionCluster } from '../../src/services/recover-postgresql.ts';
import { runningClusters } from '../../src/writers/postgresql/clusters.ts';
import { startThrowaway } from '../../src/writers/postgresql/throwaway.ts';
import { postgresqlWriter } from '../../src/writers/postgresql/writer.ts';
import { lane } from '../helpers/lanes.ts';
import { PG_BIN, startCluster } from '../helpers/postgres.ts';
import { tmpDir } from '../helpers/tmp.ts';

const NOBODY = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--'];

/** A process called postgres, run as nobody in `dir` (setpriv execs it: its pid is the one returned). */
async function fakePostgres(t: Test, dir: string): Promise<number> {
  const program = path.join(dir, 'postgres');
  await fs.copyFile('/bin/sleep', program);
  await fs.chmod(program, 0o755);
  const child = execa('setpriv', [...NOBODY, program, '300'], { cwd: dir, reject: false, stdio: 'ignore' });
  t.teardown(async () => {
    child.kill('SIGKILL');
    await child;
  });
  return child.pid as number;
}

/** Writes `text` to `file` as nobody's. */
async function nobodys(file: string, text: string): Promise<void> {
  await fs.writeFile(file, text);
  await execa('chown', ['nobody:nogroup', file]);
}

t.test("a fake postmaster in root's sticky folder with PG_VERSION naming another folder runs nothing", async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const sticky = path.join(outer, 'tmp');
  await fs.mkdir(sticky);
  await fs.chmod(sticky, 0o1777); // like /tmp: root's, and anyone may add files
  const evil = path.join(sticky, 'evil', 'bin');
  await fs.mkdir(evil, { recursive: true });
  const marker = path.join(outer, 'ran-as');
  await nobodys(path.join(evil, 'psql'), `#!/bin/sh\nid -u > ${marker}\n`);
  await fs.chmod(path.join(evil, 'psql'), 0o755);
  const pid = await fakePostgres(t, sticky);
  await nobodys(path.join(sticky, 'PG_VERSION'), `../../../..${path.dirname(evil)}\n`);
  await nobodys(path.join(sticky, 'postmaster.pid'), `${pid}\n${sticky}\n1\n5432\n${sticky}\n\n`);
  const clusters = await runningClusters();
  t.notOk(
    clusters.some((c) => c.dataDir === sticky),
    'a process that is not its folder’s owner (root here) is no postmaster',
  );
  await postgresqlWriter.discover().catch(() => []);
  t.equal(await fs.readFile(marker, 'utf8').catch(() => 'nothing ran'), 'nothing ran', 'no psql of theirs ran');
});

t.test('a fake postmaster whose postmaster.pid is a FIFO does not keep qrv waiting', async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const dir = path.join(outer, 'nobody');
  await fs.mkdir(dir, { mode: 0o755 });
  await execa('chown', ['nobody:nogroup', dir]);
  await fakePostgres(t, dir);
  for (const name of ['postmaster.pid', 'PG_VERSION']) {
    await execa('setpriv', [...NOBODY, 'mkfifo', path.join(dir, name)]);
    // a reader blocked in open() (without the fix) is let go when the test ends
    t.teardown(async () => {
      const writer = await fs.open(path.join(dir, name), constants.O_RDWR | constants.O_NONBLOCK);
      await writer.close();
    });
  }
  const found = await Promise.race([
    runningClusters().then((clusters) => clusters.filter((c) => c.dataDir === dir).length),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref()),
  ]);
  t.equal(found, 0, 'the folder is passed over at once');
});

t.test(
  "a copy's PG_VERSION that is a link or a FIFO neither shows what it leads to nor keeps qrv waiting",
  async (t) => {
    if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv'] })) return;
    const outer = await tmpDir(t, 'qrv-hostile-');
    const secret = path.join(outer, 'secret');
    await fs.writeFile(secret, '15\nroot-only-secret\n', { mode: 0o600 });
    const dataDir = path.join(outer, 'clone', 'main');
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    await execa('chown', ['postgres:postgres', dataDir]);
    await fs.symlink(secret, path.join(dataDir, 'PG_VERSION'));
    const error = await startThrowaway(dataDir, 5000).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(isQrvError(error), `refused (${String(error)})`);
    t.notMatch(String(error), /secret/, 'the file it leads to is not quoted');
    await fs.rm(path.join(dataDir, 'PG_VERSION'));
    await execa('mkfifo', [path.join(dataDir, 'PG_VERSION')]);
    t.teardown(async () => {
      const writer = await fs.open(path.join(dataDir, 'PG_VERSION'), constants.O_RDWR | constants.O_NONBLOCK);
      await writer.close();
    });
    const fifo = await Promise.race([
      startThrowaway(dataDir, 5000).then(
        () => 'started',
        (e: unknown) => (isQrvError(e) ? e.code : String(e)),
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref()),
    ]);
    t.equal(fifo, 'writer-failed', 'a FIFO is no PG_VERSION');
  },
);

t.test("a copy's data folder reached through a link is refused: it leads out of the clone", async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  const root = path.join(outer, 'clone');
  const elsewhere = path.join(outer, 'elsewhere', 'main');
  await fs.mkdir(path.join(root, 'srv'), { recursive: true });
  await fs.mkdir(elsewhere, { recursive: true });
  await fs.mkdir(path.join(root, 'srv', 'real', 'main'), { recursive: true });
  t.equal(await dataDirIn(root, '/srv/real/main'), path.join(root, 'srv', 'real', 'main'), 'a folder in the clone');
  await fs.symlink(path.dirname(elsewhere), path.join(root, 'srv', 'pg'));
  await t.rejects(dataDirIn(root, '/srv/pg/main'), { code: 'group-incomplete' }, 'a link on the way (absolute)');
  await fs.symlink('../../elsewhere/main', path.join(root, 'srv', 'main'));
  await t.rejects(dataDirIn(root, '/srv/main'), { code: 'group-incomplete' }, 'the folder a link (relative)');
  await t.rejects(dataDirIn(root, '/srv/none'), { code: 'group-incomplete' }, 'nothing there');
});

/** A real cluster of nobody's in `dir`, named `name` (cluster_name), on a socket in `dir`. */
async function nobodysCluster(t: Test, dir: string, name: string): Promise<string> {
  await fs.mkdir(dir, { mode: 0o700 });
  await execa('chown', ['nobody:nogroup', dir]);
  const dataDir = path.join(dir, 'data');
  const asNobody = (program: string, args: string[]) =>
    execa('setpriv', [...NOBODY, path.join(PG_BIN, program), ...args], { cwd: dir, env: { HOME: dir } });
  await asNobody('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'nobody', '--no-sync', '-E', 'UTF8']);
  const settings = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c cluster_name=${name}`;
  await asNobody('pg_ctl', ['-D', dataDir, '-o', settings, '-l', path.join(dir, 'log'), '-w', 'start']);
  t.teardown(() => asNobody('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined));
  return dataDir;
}

t.test("nobody's cluster named as another is not taken for it: not held, not restored into", async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv', `${PG_BIN}/initdb`] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const name = `qrvspoof${process.pid}`;
  const prod = await startCluster(t, { dataDir: path.join(outer, 'zz-prod', 'data'), name, port: 5439 });
  // theirs sorts first (/tmp/…/aa-…), and has a database of the same name
  await nobodysCluster(t, path.join(outer, 'aa-nobody'), name);
  await t.rejects(postgresqlWriter.find(`${name}/postgres`), { code: 'writer-failed' }, 'two clusters of one name');
  await prod.stop();
  const record = {
    writer: 'postgresql',
    instance: name,
    name: 'postgres',
    paths: [prod.dataDir],
    position: null,
    files: {},
  };
  await t.rejects(productionCluster(record), { code: 'unknown-object' }, 'theirs is not where the object came from');
});

t.test('a transaction prepared in the copy that locks a table does not keep pg_dump waiting for ever', async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: [`${PG_BIN}/initdb`] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const pg = await startCluster(t, {
    dataDir: path.join(outer, 'pg', 'data'),
    name: `qrvprep${process.pid}`,
    port: 5438,
  });
  await pg.sql('ALTER SYSTEM SET max_prepared_transactions = 5');
  await pg.stop();
  const again = await startCluster(t, { dataDir: pg.dataDir, name: 'x', port: 5438, existing: true });
  await again.sql('CREATE TABLE t(x int); INSERT INTO t VALUES (1)');
  await again.sql("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'stuck'");
  await again.stop('immediate'); // as a snapshot finds it
  const server = await startThrowaway(pg.dataDir, 60_000);
  t.teardown(() => server.stop());
  const started = Date.now();
  const dumped = await Promise.race([
    dumpTo(server, 'postgres', path.join(outer, 'dump'), false).then(
      () => 'dumped',
      (e: unknown) => (isQrvError(e) ? `${e.code}: ${e.hint} (${e.message})` : String(e)),
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 40 s'), 40_000).unref()),
  ]);
  t.match(dumped, /^writer-failed: a transaction prepared in the copy/, `refused, saying why (${dumped})`);
  t.ok(Date.now() - started < 30_000, 'in about the lock wait qrv allows');
});
