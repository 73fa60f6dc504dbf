// The SQLite writer with real databases and Debian's sqlite3: the writer contract in WAL mode and
// in rollback-journal mode; a glob that finds databases and nothing else; a link not followed;
// another connection's lock held past the timeout; the session killed while held; the files the
// session makes beside a database owned by the database's owner.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { isQrvError } from '../../src/core/errors.ts';
import { sqliteWriter } from '../../src/writers/sqlite.ts';
import type { WriterObject } from '../../src/writers/writer.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { writerContract, type WriterSubject } from './contract.ts';

const TOOLS = ['sqlite3', 'runuser'];

const sql = async (db: string, text: string) =>
  (await execa('sqlite3', ['-batch', '-bail', '-cmd', '.timeout 2000', db, text])).stdout.trim();

/** An INSERT from another connection that waits 300 ms for the lock: committed, or refused (busy). */
async function writeTo(db: string): Promise<'committed' | 'refused'> {
  const insert = await execa(
    'sqlite3',
    ['-batch', '-bail', '-cmd', '.timeout 300', db, 'INSERT INTO t(at) VALUES(1)'],
    {
      reject: false,
    },
  );
  if (insert.exitCode === 0) return 'committed';
  if (/database is locked/.test(insert.stderr)) return 'refused';
  throw new Error(`the write failed otherwise: ${insert.stderr}`);
}

async function makeDb(file: string, mode: 'wal' | 'delete'): Promise<void> {
  await sql(file, `PRAGMA journal_mode=${mode}; CREATE TABLE t(n INTEGER PRIMARY KEY, at INTEGER);`);
}

function subjectIn(dir: string, db: string): WriterSubject {
  return {
    pattern: db,
    expect: { instance: dir, name: path.basename(db), paths: [db] },
    nothing: path.join(dir, 'none-*.db'),
    write: () => writeTo(db),
    isHeld: async () => (await writeTo(db)) === 'refused',
    makeGone: async (how) => {
      for (const extra of ['', '-wal', '-shm', '-journal']) await fs.rm(`${db}${extra}`, { force: true });
      if (how === 'not a database') await fs.writeFile(db, 'not a database\n'.repeat(400));
    },
  };
}

for (const mode of ['wal', 'delete'] as const)
  t.test(`the writer contract, journal mode ${mode}`, async (t) => {
    if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
    writerContract(t, {
      writer: sqliteWriter,
      gone: ['removed', 'not a database'],
      make: async (t) => {
        const dir = await tmpDir(t);
        const db = path.join(dir, 'app.db');
        await makeDb(db, mode);
        return subjectIn(dir, db);
      },
    });
  });

t.test('a glob finds every database and skips -wal, -shm, -journal, links and other files', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  await fs.mkdir(path.join(dir, 'sub', 'folder.db'), { recursive: true });
  const dbs = [path.join(dir, 'a.db'), path.join(dir, 'b.db'), path.join(dir, 'sub', 'c.db')];
  for (const db of dbs) await makeDb(db, 'wal');
  // copies of a database under the names of its companions: the header alone would take them
  for (const extra of ['-wal', '-shm', '-journal']) await fs.copyFile(dbs[0] as string, `${dbs[1]}${extra}`);
  await fs.writeFile(path.join(dir, 'notes.db'), 'SQLite format 2 is not this\n');
  await fs.writeFile(path.join(dir, 'empty.db'), '');
  await fs.writeFile(path.join(dir, 'short.db'), 'SQLite');
  await fs.symlink(dbs[0] as string, path.join(dir, 'link.db'));
  const names = (found: WriterObject[]) => found.map((o) => path.join(o.instance.name, o.name));
  t.same(names(await sqliteWriter.find(path.join(dir, '**', '*'))), dbs, 'the three databases, in order');
  t.same(names(await sqliteWriter.find(path.join(dir, '*.db'))), dbs.slice(0, 2), 'a glob of one folder');
  const [b] = await sqliteWriter.find(dbs[1] as string);
  t.same(
    b?.instance.paths,
    [1, '-wal', '-shm', '-journal'].map((x) => `${dbs[1]}${x === 1 ? '' : x}`),
    'its companions',
  );
  t.same(await sqliteWriter.find(path.join(dir, 'link.db')), [], 'a link named by path is not followed');
  t.same(await sqliteWriter.find(`${dbs[1]}-journal`), [], 'a -journal named by path is no database');
  await t.rejects(sqliteWriter.find('relative/app.db'), { code: 'bad-object' }, 'a relative path is refused');
});

/** Another connection holding the write lock (BEGIN IMMEDIATE) until its input ends. */
async function lockHolder(t: Test, db: string) {
  const holder = execa('sqlite3', ['-batch', db], { stdin: 'pipe', reject: false });
  t.teardown(async () => {
    holder.kill('SIGKILL');
    await holder;
  });
  holder.stdin?.write('BEGIN IMMEDIATE;\nINSERT INTO t(at) VALUES(2);\n.print locked\n');
  await new Promise<void>((resolve) => holder.stdout?.on('data', (d: Buffer) => /locked/.test(`${d}`) && resolve()));
  return { holder }; // wrapped: a process is a promise of its end, which an async function would await
}

t.test('a lock held by another connection past the timeout fails the hold with writer-timeout', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
  for (const mode of ['wal', 'delete'] as const) {
    const dir = await tmpDir(t);
    const db = path.join(dir, 'app.db');
    await makeDb(db, mode);
    const [object] = await sqliteWriter.find(db);
    const { holder } = await lockHolder(t, db);
    const started = Date.now();
    const error = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 1000 }).then(
      () => null,
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    t.ok(isQrvError(error) && error.code === 'writer-timeout', `${mode}: writer-timeout (${String(error)})`);
    t.notMatch(String(error), /\n/, `${mode}: one line`);
    t.ok(took >= 900 && took < 1800, `${mode}: within about the timeout (${took} ms)`);
    holder.stdin?.end('COMMIT;\n');
    await holder;
    const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 1000 });
    t.ok((await held.release()).position, `${mode}: held once the other let go`);
  }
});

t.test('a reader with a long read transaction does not keep the hold waiting its timeout', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const db = path.join(dir, 'app.db');
  await makeDb(db, 'wal');
  await writeTo(db);
  const reader = execa('sqlite3', ['-batch', db], { stdin: 'pipe', reject: false });
  t.teardown(async () => {
    reader.kill('SIGKILL');
    await reader;
  });
  reader.stdin?.write('BEGIN;\nSELECT count(*) FROM t;\n.print reading\n');
  await new Promise<void>((resolve) => reader.stdout?.on('data', (d: Buffer) => /reading/.test(`${d}`) && resolve()));
  await writeTo(db); // a frame in the WAL the reader's snapshot keeps from being checkpointed away
  const [object] = await sqliteWriter.find(db);
  const started = Date.now();
  const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 4000 });
  const took = Date.now() - started;
  t.ok(took < 1500, `held without waiting out the timeout (${took} ms): ${held.method}`);
  t.equal(await writeTo(db), 'refused', 'held');
  await held.release();
});

/** The sqlite3 processes that are children of this test (the writer's session). */
async function childSqlite(): Promise<number[]> {
  const found: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const match = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
    if (match?.[1] === 'sqlite3' && Number(match[2]) === process.pid) found.push(Number(name));
  }
  return found;
}

t.test('the session killed while held: release() fails with writer-failed, and the lock is gone', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const db = path.join(dir, 'app.db');
  await makeDb(db, 'wal');
  const [object] = await sqliteWriter.find(db);
  const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 2000 });
  const pids = await childSqlite();
  t.equal(pids.length, 1, 'one sqlite3 session');
  process.kill(pids[0] as number, 'SIGKILL');
  const error = await held.release().then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(isQrvError(error) && error.code === 'writer-failed', `writer-failed (${String(error)})`);
  t.match(String(error), /sqlite3/, 'names sqlite3');
  t.notMatch(String(error), /\n|runuser/, 'one line, no runuser');
  t.equal(await writeTo(db), 'committed', 'the database is writable again');
  await held.abandon();
});

t.test('files the session makes beside a database belong to its owner, not root', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o711);
  const folder = path.join(dir, 'nobody');
  await fs.mkdir(folder);
  const db = path.join(folder, 'app.db');
  await makeDb(db, 'wal');
  await execa('chown', ['-R', 'nobody:nogroup', folder]);
  const [object] = await sqliteWriter.find(db);
  t.equal(object?.instance.reach['owner'], 'nobody', "its owner is the file's");
  const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 2000 });
  t.ok(await fs.stat(`${db}-wal`).catch(() => null), 'the session opened the WAL');
  for (const extra of ['-wal', '-shm']) {
    const st = await fs.stat(`${db}${extra}`).catch(() => null);
    t.equal(st?.uid, 65534, `${extra} is nobody's`);
  }
  t.equal(await writeTo(db), 'refused', 'held');
  t.ok((await held.release()).position, 'released');
  for (const name of await fs.readdir(folder))
    t.equal((await fs.stat(path.join(folder, name))).uid, 65534, `${name} is nobody's`);
});

t.test('a database whose owner has no name is found, and held as that uid', async (t) => {
  if (!lane(t, 'sqlite writer', { root: true, tools: [...TOOLS, 'setpriv'] })) return;
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o711);
  const folder = path.join(dir, 'container');
  await fs.mkdir(folder);
  const db = path.join(folder, 'app.db');
  await makeDb(db, 'wal');
  await execa('chown', ['-R', '4242:4343', folder]);
  const [object] = await sqliteWriter.find(db);
  t.equal(object?.instance.reach['owner'], '4242', 'found, its owner by number');
  const held = await sqliteWriter.hold((object as WriterObject).instance, { label: 'x', timeoutMs: 2000 });
  const wal = await fs.stat(`${db}-wal`).catch(() => null);
  t.same([wal?.uid, wal?.gid], [4242, 4343], "the WAL the session opened is the file's owner's and group's");
  t.equal(await writeTo(db), 'refused', 'held');
  t.ok((await held.release()).position, 'released');
});
