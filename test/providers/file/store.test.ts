// Issue 12 item 2: snapshot stores, as an unprivileged user against root's qrv. A snapshot is
// readable only by qrv's user (0400), even in a store others can list; a store owned by another
// user, writable by others, or a link is refused before anything is written; a name planted in the
// store is never followed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { failsCleanly } from '../../helpers/assert.ts';
import { qrv, qrvJson } from '../../helpers/cli.ts';
import { lane } from '../../helpers/lanes.ts';
import { sparseFile, tmpDir } from '../../helpers/tmp.ts';

const NOBODY = ['runuser', '-u', 'nobody', '--'];

/** A root-only (0600) image with a root-only secret in it, as volume "secret", snapshots in `store`. */
async function scene(t: Test, store: string) {
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o755);
  const image = await sparseFile(path.join(dir, 'secret.img'), 4 * 2 ** 20);
  await fs.writeFile(image, 'root-only secret\n', { flag: 'r+' });
  await fs.chmod(image, 0o600);
  const home = path.join(dir, 'home');
  const added = await qrv(home, ['volume', 'add', 'secret', '--path', image, '--snapshot-dir', path.join(dir, store)]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, image, home, store: path.join(dir, store) };
}

t.test('a snapshot of a root-only image is not readable by nobody, even in a store anyone can list', async (t) => {
  if (!lane(t, 'unprivileged user', { root: true, tools: ['runuser'] })) return;
  const { home, store } = await scene(t, 'snaps');
  await fs.mkdir(store, { mode: 0o755 });
  await fs.chmod(store, 0o755);
  const snap = await qrvJson(home, ['snap', 'secret']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  const file = snap.summary.snapshot.path as string;
  const st = await fs.stat(file);
  t.equal(st.mode & 0o7777, 0o400, 'the snapshot file is 0400');
  t.equal(st.uid, 0, 'owned by root');
  const read = await execa(NOBODY[0] as string, [...NOBODY.slice(1), 'cat', file], { reject: false });
  t.not(read.exitCode, 0, 'nobody cannot read it');
  t.notMatch(String(read.stdout), /secret/);
});

t.test('a store owned by another user, writable by others, or a link is refused; nothing is written', async (t) => {
  if (!lane(t, 'unprivileged user', { root: true, tools: ['runuser'] })) return;
  const { dir, home, store } = await scene(t, 'snaps');
  const catalog = path.join(home, 'catalog.json');

  await fs.mkdir(store, { mode: 0o700 });
  await fs.chown(store, 65534, 65534);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'secret']),
    4,
    /^qrv: refusing the snapshot store .*snaps: it is owned by uid 65534, not by root \(make it a folder owned by root/,
  );

  await fs.chown(store, 0, 0);
  await fs.chmod(store, 0o777);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'secret']),
    4,
    /^qrv: refusing the snapshot store .*snaps: it is writable by group and others \(mode 0777\)/,
  );
  await fs.chmod(store, 0o1777);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'secret']),
    4,
    /it is writable by group and others \(mode 1777\)/,
  );

  // A link in the store's place, planted by a user who could write the folder above it.
  await fs.rm(store, { recursive: true });
  const elsewhere = path.join(dir, 'elsewhere');
  await fs.mkdir(elsewhere, { mode: 0o700 });
  await fs.symlink(elsewhere, store);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'secret']),
    4,
    /^qrv: refusing the snapshot store .*snaps: it is a symbolic link/,
  );
  t.same(await fs.readdir(elsewhere), [], 'nothing was written through it');
});

t.test('the store is made 0700; a planted probe name or snapshot name is never followed', async (t) => {
  if (!lane(t, 'unprivileged user', { root: true, tools: ['runuser'] })) return;
  const { dir, home, store } = await scene(t, 'fresh-store');
  const snap = await qrvJson(home, ['snap', 'secret']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  t.equal((await fs.stat(store)).mode & 0o7777, 0o700, 'a new store is 0700');
  // A root-only victim file, and a link to it under the name the next snapshot's file would get:
  // root's qrv must not write or chmod through it (O_EXCL|O_NOFOLLOW, fchmod).
  const victim = path.join(dir, 'victim');
  await fs.writeFile(victim, 'root only\n', { mode: 0o600 });
  const listed = await fs.readdir(store);
  t.equal(listed.length, 1);
  const planted = path.join(store, listed[0] as string);
  await fs.rm(planted, { force: true });
  await fs.symlink(victim, planted);
  const { cloneImage } = await import('../../../src/providers/file/clone.ts');
  const error = await cloneImage(path.join(dir, 'secret.img'), planted, 4 * 2 ** 20, 0o400).catch((e: unknown) => e);
  t.match(error, { code: 'EEXIST' }, 'the planted name is refused, not followed');
  const st = await fs.stat(victim);
  t.equal(st.mode & 0o7777, 0o600, 'the victim keeps its mode');
  t.equal(await fs.readFile(victim, 'utf8'), 'root only\n', 'and its content');
});
