// The SQLite writer named a path another user can change: the owner of a folder on the way to the
// database swaps a folder for a link to root's database; qrv must not take root's database for
// the one named (it would hold it as root, snapshot its volume and hand it back under that name).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { sqliteWriter } from '../../src/writers/sqlite.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';

const NOBODY = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--'];

t.test("a link of another user's on the way to a database is not followed to root's database", async (t) => {
  if (!lane(t, 'hostile sqlite', { root: true, tools: ['sqlite3', 'setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  for (const folder of ['secret', 'own']) {
    await fs.mkdir(path.join(outer, folder), { mode: 0o755 });
    await execa('sqlite3', [path.join(outer, folder, 'app.db'), 'CREATE TABLE t(x);']);
  }
  const theirs = path.join(outer, 'theirs');
  await fs.mkdir(theirs, { mode: 0o755 });
  await execa('chown', ['-R', 'nobody:nogroup', theirs, path.join(outer, 'own')]);
  await execa('setpriv', [...NOBODY, 'ln', '-s', '../secret', path.join(theirs, 'data')]);
  await execa('setpriv', [...NOBODY, 'ln', '-s', '../own', path.join(theirs, 'mine')]);
  await fs.symlink('secret', path.join(outer, 'roots'));
  const owners = async (file: string) => (await sqliteWriter.find(file)).map((o) => o.instance.reach['owner']);
  t.same(await owners(path.join(theirs, 'data', 'app.db')), [], "nobody's link to root's database: not found");
  t.same(await owners(path.join(theirs, 'mine', 'app.db')), ['nobody'], "nobody's link to their own: found");
  t.same(await owners(path.join(outer, 'roots', 'app.db')), ['root'], "root's link: found");
  t.same(await owners(path.join(theirs, '*', 'app.db')), [], 'nor by a glob (links are not followed)');
});
