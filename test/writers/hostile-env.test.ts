// What a database's owner can read of root's qrv: the programs qrv runs as them (sqlite3, psql,
// the throwaway server and what runs against it) are theirs to look into (/proc/PID/environ, or
// COPY FROM PROGRAM 'env' as the throwaway server's superuser), so they get none of qrv's
// environment, which may hold secrets (an archive store's AWS keys).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { startThrowaway } from '../../src/writers/postgresql/throwaway.ts';
import { postgresqlWriter } from '../../src/writers/postgresql/writer.ts';
import { sqliteWriter } from '../../src/writers/sqlite.ts';
import type { WriterObject } from '../../src/writers/writer.ts';
import { lane } from '../helpers/lanes.ts';
import { PG_BIN, startCluster } from '../helpers/postgres.ts';
import { tmpDir } from '../helpers/tmp.ts';

const SECRET = 'QRV_HOSTILE_SECRET';

function withSecret(t: Test): string {
  const value = `root-only-${process.pid}`;
  process.env[SECRET] = value;
  t.teardown(() => {
    delete process.env[SECRET];
  });
  return value;
}

/** The environment of each process of `user` whose command line holds `marker`, read as that user. */
async function environsOf(user: string, marker: string): Promise<string[]> {
  const pids = (await execa('pgrep', ['-u', user, '-f', marker], { reject: false })).stdout.split('\n').filter(Boolean);
  const environs: string[] = [];
  for (const pid of pids) {
    const read = await execa('runuser', ['-u', user, '--', 'cat', `/proc/${pid}/environ`], { reject: false });
    if (read.exitCode === 0) environs.push(read.stdout.replace(/\0/g, '\n'));
  }
  return environs;
}

/** One session, which its owner can read, and the secret not in it. */
function noSecretIn(t: Test, environs: string[], secret: string): void {
  t.equal(environs.length, 1, 'the session is theirs to look into');
  t.notOk(
    environs.some((e) => e.includes(secret)),
    'without the secret',
  );
}

t.test("sqlite3, run as the database's owner while it is held, has none of qrv's environment", async (t) => {
  if (!lane(t, 'hostile env', { root: true, tools: ['sqlite3', 'runuser'] })) return;
  const secret = withSecret(t);
  const dir = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(dir, 0o755);
  const db = path.join(dir, 'theirs.db');
  await execa('sqlite3', [db, 'CREATE TABLE t(x);']);
  await execa('chown', ['nobody:nogroup', db]);
  const [object] = await sqliteWriter.find(db);
  const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 5000 });
  try {
    const environs = await environsOf('nobody', db);
    noSecretIn(t, environs, secret);
  } finally {
    await held.release();
  }
});

t.test("psql held as the cluster's owner, and the throwaway server, have none of qrv's environment", async (t) => {
  if (!lane(t, 'hostile env', { root: true, tools: ['runuser', `${PG_BIN}/initdb`] })) return;
  const secret = withSecret(t);
  const dir = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(dir, 0o711);
  const name = `qrvenv${process.pid}`;
  const pg = await startCluster(t, { dataDir: path.join(dir, 'pg', 'data'), name, port: 5437 });
  const [object] = await postgresqlWriter.find(`${name}/postgres`);
  const held = await postgresqlWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 5000 });
  try {
    const environs = await environsOf('postgres', `psql.*${pg.socketDir}`);
    noSecretIn(t, environs, secret);
  } finally {
    await held.release();
  }
  await pg.stop();
  const server = await startThrowaway(pg.dataDir, 60_000);
  t.teardown(() => server.stop());
  const file = path.join(dir, 'env.out');
  const out = await fs.open(file, 'w');
  // one column a line, no backslash escapes (a value may hold one: text format would read it as COPY's own)
  const sql =
    "CREATE TEMP TABLE e(l text); COPY e FROM PROGRAM 'env' WITH (FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e'); SELECT l FROM e;";
  const asked = await server.run('psql', ['-X', '-A', '-t', '-d', 'postgres', '-c', sql], {
    stdout: out.createWriteStream({ autoClose: false }),
  });
  await out.close();
  const said = await fs.readFile(file, 'utf8');
  t.equal(asked.exitCode, 0, `its superuser runs a program on the server (${asked.stderr.trim()})`);
  t.match(said, /^PATH=/m, 'whose environment it prints');
  t.notMatch(said, secret, 'without the secret');
});
