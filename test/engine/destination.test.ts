// The destination is opened once, as it was checked: a symlink that nobody plants in a
// world-writable --to folder while the pre-copy hook runs is not followed (root's file stays as it
// was, nothing is reported ready); a symlink the admin names is resolved once; a QRV is 0600
// whoever made its file; nothing of qrv's is a destination, by path or by inode.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { failsCleanly } from '../helpers/assert.ts';
import { openFolderAndVictim } from '../helpers/planted.ts';

async function scene(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  await fs.chmod(dir, 0o755);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'vol', 16, { 'a.txt': 'a\n', 'b.bin': Buffer.alloc(300_000, 7) });
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', image])).exitCode, 0);
  return { dir, home, image, catalog: path.join(home, 'catalog.json') };
}

t.test(
  'root: a symlink nobody plants in a world-writable --to folder during the pre-copy hook is not followed',
  async (t) => {
    if (!lane(t, 'planted symlink', { root: true, tools: ['runuser', 'mkfs.ext4'] })) return;
    const { dir, home } = await scene(t);
    const { open, victim, before } = await openFolderAndVictim(dir);
    const planted = path.join(open, 'vol.qrv.img');
    // The hook runs as root; the symlink is made by nobody, at the racy moment: after the check.
    const hook = `pre-copy=runuser -u nobody -- ln -s ${victim} ${planted}`;
    const run = await qrvJson(home, ['run', 'vol', '--to', open, '--hook', hook]);
    t.equal(run.run.exitCode, 4, run.run.stderr);
    t.match(
      run.run.stderr,
      /destination-changed|was replaced by a symlink since it was checked; nothing was written to it/,
    );
    t.equal(await sha256(victim), before, "root's file is unchanged");
    t.equal((await fs.stat(victim)).size, 10, 'not grown to an image');
    t.ok((await fs.lstat(planted)).isSymbolicLink(), 'the symlink is left as it was');
    const listed = await qrvJson(home, ['list', '--all']);
    t.notOk(
      (listed.summary.qrvs as Array<{ state: string }>).some((q) => q.state === 'ready'),
      'nothing reported ready',
    );

    // Without the planted link, the same folder works, and the QRV is 0600 and root's.
    await fs.unlink(planted);
    const ok = await qrvJson(home, ['run', 'vol', '--to', open]);
    t.equal(ok.run.exitCode, 0, ok.run.stderr);
    const made = await fs.lstat(planted);
    t.ok(made.isFile());
    t.equal(made.mode & 0o7777, 0o600, 'the new QRV is 0600');
    t.equal((await fs.lstat(`${planted}.qrvledger`)).mode & 0o7777, 0o600, 'its ledger is 0600');

    // Swapped for a symlink between the copies (nobody can, in a non-sticky 0777 folder): the update is refused.
    const hook2 = `pre-copy=runuser -u nobody -- sh -c 'rm -f ${planted} && ln -s ${victim} ${planted}'`;
    const swapped = await qrvJson(home, ['run', 'vol', '--to', open, '--hook', hook2]);
    t.equal(swapped.run.exitCode, 4, swapped.run.stderr);
    t.match(swapped.run.stderr, /was replaced by a symlink since it was checked/);
    t.equal(await sha256(victim), before, "root's file is still unchanged");
  },
);

t.test('root: a file that replaces the checked one (another inode) is refused', async (t) => {
  if (!lane(t, 'replaced destination', { root: true, tools: ['mkfs.ext4'] })) return;
  const { dir, home } = await scene(t);
  const dest = path.join(dir, 'q.img');
  t.equal((await qrv(home, ['run', 'vol', '--to', dest])).exitCode, 0);
  const other = path.join(dir, 'other');
  await fs.writeFile(other, 'keep me\n');
  const hook = `pre-copy=mv -f ${other} ${dest}`;
  const run = await qrvJson(home, ['run', 'vol', '--to', dest, '--hook', hook]);
  t.equal(run.run.exitCode, 4, run.run.stderr);
  t.match(run.run.stderr, /q\.img is another file since it was checked/);
  t.equal(await fs.readFile(dest, 'utf8'), 'keep me\n', 'the file put there is not written');
});

t.test(
  'a symlink the admin names is resolved once; a touched 0644 file or pool member becomes a 0600 QRV',
  async (t) => {
    const { dir, home, catalog } = await scene(t);
    const real = path.join(dir, 'real.img');
    const link = path.join(dir, 'link.img');
    await fs.symlink(real, link);
    const viaLink = await qrvJson(home, ['run', 'vol', '--to', link]);
    t.equal(viaLink.run.exitCode, 0, viaLink.run.stderr);
    t.equal(viaLink.summary.qrv.destination, real, 'the QRV is the file the link names');
    t.ok((await fs.lstat(link)).isSymbolicLink(), 'the link stays a link');
    t.equal((await fs.stat(real)).mode & 0o7777, 0o600);

    const touched = path.join(dir, 'touched.img');
    await fs.writeFile(touched, '');
    await fs.chmod(touched, 0o644);
    const forced = await qrvJson(home, ['run', 'vol', '--to', touched, '--force']);
    t.equal(forced.run.exitCode, 0, forced.run.stderr);
    t.equal((await fs.stat(touched)).mode & 0o7777, 0o600, 'an existing 0644 file given with --force becomes 0600');

    const member = path.join(dir, 'member.img');
    await fs.writeFile(member, '');
    await fs.chmod(member, 0o644);
    t.equal((await qrv(home, ['pool', 'add', 'p'])).exitCode, 0);
    t.equal((await qrv(home, ['pool', 'member', 'add', 'p', member, '--capacity', '64M'])).exitCode, 0);
    const pooled = await qrvJson(home, ['run', 'vol', '--to', 'pool:p']);
    t.equal(pooled.run.exitCode, 0, pooled.run.stderr);
    t.equal((await fs.stat(member)).mode & 0o7777, 0o600, 'a touched 0644 pool member becomes a 0600 QRV');

    // Nothing of qrv's, also through a hard link: the catalog, a ledger, a snapshot.
    const snap = await qrvJson(home, ['snap', 'vol']);
    const snapPath = snap.summary.snapshot.path as string;
    const hard = path.join(dir, 'hard.img');
    await fs.link(snapPath, hard);
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['copy', snap.summary.snapshot.id, '--to', hard, '--force']),
      4,
      /is the snapshot itself/,
    );
    const ledgerLink = path.join(dir, 'ledger-link.img');
    await fs.link(`${real}.qrvledger`, ledgerLink);
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['copy', snap.summary.snapshot.id, '--to', ledgerLink, '--force']),
      4,
      /is the hash ledger of QRV q-/,
    );
    const catalogLink = path.join(dir, 'catalog-link.img');
    await fs.link(catalog, catalogLink);
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['copy', snap.summary.snapshot.id, '--to', catalogLink, '--force']),
      4,
      /is in the qrv home/,
    );
  },
);
