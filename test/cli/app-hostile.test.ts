// Recovery by name from a copy whose folders another user owns: the owner of an SQLite database's
// folder swaps it for a link to someone else's folder while the snapshot is taken (simulated
// here by changing the QRV afterwards, as the snapshot would have found it); qrv recover must
// not hand back the other user's database under their database's name.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { qrv } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const sql = async (db: string, text: string) => (await execa('sqlite3', ['-batch', '-bail', db, text])).stdout.trim();

t.test("an SQLite database's folder that is a link in the copy is not followed to another's database", async (t) => {
  if (!lane(t, 'hostile recover', { root: true, tools: ['sqlite3', 'mkfs.ext4', 'losetup'] })) return;
  const dir = await tmpDir(t, 'qrv-hostile-');
  const home = path.join(dir, 'home');
  await fs.chmod(dir, 0o711); // nobody reaches their database (sqlite3 holds it as them)
  const { mountpoint } = await mountLoopFs(t, dir, 'ext4', 64);
  for (const [folder, owner] of [
    ['theirs', 'nobody:nogroup'],
    ['secret', 'root:root'],
  ] as const) {
    await fs.mkdir(path.join(mountpoint, folder), { mode: 0o700 });
    await sql(path.join(mountpoint, folder, 'app.db'), `CREATE TABLE t(x); INSERT INTO t VALUES('${folder}');`);
    await execa('chown', ['-R', owner, path.join(mountpoint, folder)]);
  }
  const db = path.join(mountpoint, 'theirs', 'app.db');
  t.equal((await qrv(home, ['volume', 'add', 'app', '--path', path.join(dir, 'ext4.fs.img')])).exitCode, 0);
  t.equal((await qrv(home, ['subclient', 'add', 'appsc', '--object', `sqlite:${db}`])).exitCode, 0);
  const dest = path.join(dir, 'dest.img');
  const run = await qrv(home, ['run', 'appsc', '--to', dest]);
  t.equal(run.exitCode, 0, run.stderr);
  // the copy as it would be had they swapped their folder for a link when the snapshot was taken
  const mnt = path.join(dir, 'qrv.mnt');
  await fs.mkdir(mnt);
  await execa('mount', ['-o', 'loop', dest, mnt]);
  await fs.rename(path.join(mnt, 'theirs'), path.join(mnt, 'theirs.old'));
  await fs.symlink('secret', path.join(mnt, 'theirs'));
  await execa('umount', [mnt]);
  const out = path.join(dir, 'out.db');
  const recovered = await qrv(home, ['recover', `sqlite:${db}`, '--to', out]);
  const got = await sql(out, 'SELECT x FROM t').catch(() => 'nothing');
  t.not(got, 'secret', "root's database is not handed back as theirs");
  t.not(recovered.exitCode, 0, `refused (${recovered.stderr.trim()})`);
});
