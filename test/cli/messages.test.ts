// Issue 12 item 13, as the admin sees it: every refusal is one line that says what is wrong,
// names the real cause, and changes nothing. Real bin/qrv, real images and files.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';

const isRoot = process.getuid?.() === 0;
/** each test runs bin/qrv up to a dozen times; the shared test machine can be slow */
const slow = { timeout: 900_000 };

/** stderr is exactly one line starting with "qrv: " */
function oneLine(t: Test, stderr: string, what: string): void {
  t.match(stderr, /^qrv: [^\n]*\n?$/, `${what}: one line`);
  t.notOk(/[\x00-\x08\x0b-\x1f\x7f]/.test(stderr), `${what}: no control character`);
}

async function setup(t: Test): Promise<{ dir: string; home: string; image: string }> {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 8, { 'hello.txt': 'hello\n' });
  const added = await qrv(home, ['volume', 'add', 'web', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image };
}

t.test('a newline or escape in a name does not split or colour the error line', slow, async (t) => {
  const { dir, home } = await setup(t);
  for (const args of [
    ['show', 'web\nqrv: all is well'],
    ['run', 'no\x1b[2Jsuch', '--to', dir],
    ['volume', 'add', 'a\nb', '--path', path.join(dir, 'web.img')],
    ['policy', 'add', 'p\nq'],
    ['subclient', 'add', 's\rt', '--volume', 'web'],
    ['pool', 'add', 'x\ny'],
    ['snap', 'web', '--label', 'two\nlines'],
  ]) {
    const run = await qrv(home, args);
    t.not(run.exitCode, 0, `${JSON.stringify(args)} is refused`);
    oneLine(t, run.stderr, JSON.stringify(args));
  }
  const list = await qrvJson(home, ['list']);
  t.same(list.summary.snapshots, [], 'the refused label made no snapshot');
});

t.test('an empty path is a usage error, not the current folder', slow, async (t) => {
  const { dir, home } = await setup(t);
  const snap = await qrvJson(home, ['snap', 'web']);
  const id = snap.summary.snapshot.id as string;
  const before = await fs.readdir(dir);
  for (const args of [
    ['copy', id, '--to', ''],
    ['run', 'web', '--to', ''],
    ['recover', 'web', '--from', id, '--to', ''],
    ['recover', 'web', '--from', id, '--path', ''],
    ['volume', 'add', 'v2', '--path', ''],
    ['volume', 'add', 'v3', '--path', path.join(dir, 'web.img'), '--snapshot-dir', ' '],
    ['policy', 'add', 'p', '--dest', ''],
    ['discover', '--path', ''],
    ['pool', 'member', 'add', 'big', ''],
    ['--home', '', 'list'],
  ]) {
    const run = await execa(process.execPath, [BIN, '--home', home, ...args], {
      cwd: dir,
      reject: false,
      env: { CI: '' },
    });
    t.equal(run.exitCode, 2, `${JSON.stringify(args)}: exit 2 (usage)`);
    t.match(run.stderr, /an empty path names nothing/, 'says why');
    oneLine(t, run.stderr, JSON.stringify(args));
  }
  t.same(await fs.readdir(dir), before, 'nothing was written into the current folder');
});

t.test('only disk images are file volumes: not /etc/passwd, not /proc, not /dev', slow, async (t) => {
  const { dir, home } = await setup(t);
  const odd = path.join(dir, 'notes.txt');
  await fs.writeFile(odd, 'x'.repeat(60_000));
  for (const [name, file, why] of [
    ['passwd', '/etc/passwd', /not a disk image: it holds \d+ bytes/],
    ['status', '/proc/self/status', /not a disk image: it is on proc/],
    ['cmdline', '/proc/cmdline', /not a disk image: it is on proc/],
    ['uevent', '/sys/kernel/uevent_seqnum', /not a disk image: it is on sysfs/],
    ['notes', odd, /not a disk image: it holds 60000 bytes/],
  ] as const) {
    const run = await qrv(home, ['volume', 'add', name, '--path', file]);
    t.equal(run.exitCode, 2, `${file} is refused`);
    t.match(run.stderr, why, `${file}: ${run.stderr.trim()}`);
    oneLine(t, run.stderr, file);
  }
  const list = await qrvJson(home, ['volume', 'list']);
  t.same(
    list.summary.volumes.map((v: { name: string }) => v.name),
    ['web'],
    'no volume was added',
  );
  // discovery by glob takes the images beside other files, never the other files
  const vms = path.join(dir, 'vms');
  await fs.mkdir(vms);
  await fs.writeFile(path.join(vms, 'disk.img'), Buffer.alloc(1024 * 1024, 1));
  await fs.writeFile(path.join(vms, 'README'), 'x'.repeat(7_000));
  await fs.writeFile(path.join(vms, 'disk.sha256'), 'abc  disk.img\n');
  const found = await qrvJson(home, ['discover', '--path', path.join(vms, '*')]);
  t.equal(found.run.exitCode, 0, found.run.stderr);
  const after = await qrvJson(home, ['volume', 'list']);
  t.same(
    after.summary.volumes.map((v: { name: string }) => v.name).sort(),
    ['disk', 'web'],
    'only the image was discovered',
  );
});

t.test('the same image through a symbolic or hard link is the volume it already is', slow, async (t) => {
  const { dir, home, image } = await setup(t);
  await fs.symlink(image, path.join(dir, 'link.img'));
  await fs.mkdir(path.join(dir, 'sub'));
  await fs.symlink('../web.img', path.join(dir, 'sub', 'relative.img'));
  await fs.link(image, path.join(dir, 'hard.img'));
  for (const other of ['link.img', 'sub/relative.img', 'hard.img']) {
    const run = await qrv(home, ['volume', 'add', 'again', '--path', path.join(dir, other)]);
    t.equal(run.exitCode, 4, `${other} is refused`);
    t.match(run.stderr, /is volume "web" already \(the same file as .*web\.img\) \(use "web"\)/);
  }
});

t.test('a ledger that cannot be used is named once', slow, async (t) => {
  const { dir, home } = await setup(t);
  const run = await qrvJson(home, ['run', 'web', '--to', path.join(dir, 'q.img')]);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  const ledger = `${path.join(dir, 'q.img')}.qrvledger`;
  await fs.rm(ledger);
  const verify = await qrv(home, ['verify', run.summary.qrv.id]);
  t.equal(verify.exitCode, 9);
  t.match(verify.stderr, /cannot be verified: .*q\.img\.qrvledger does not exist/);
  t.equal(verify.stderr.split(ledger).length - 1, 1, `the path once: ${verify.stderr.trim()}`);
});

t.test(
  'an immutable snapshot file or store is called that, not ENOTDIR',
  { ...slow, skip: !isRoot && 'chattr +i needs root' },
  async (t) => {
    const { dir, home } = await setup(t);
    const snap = await qrvJson(home, ['snap', 'web']);
    const file = snap.summary.snapshot.path as string;
    await execa('chattr', ['+i', file]);
    t.teardown(() => execa('chattr', ['-i', file], { reject: false }));
    const unsnap = await qrv(home, ['unsnap', snap.summary.snapshot.id]);
    t.equal(unsnap.exitCode, 8);
    t.match(unsnap.stderr, /cannot remove snapshot file .* immutable or append-only \(EPERM\).*chattr -i/);
    t.notMatch(unsnap.stderr, /ENOTDIR/);
    await execa('chattr', ['-i', file]);
    const store = path.join(dir, '.qrv-snapshots');
    await execa('chattr', ['+i', store]);
    t.teardown(() => execa('chattr', ['-i', store], { reject: false }));
    const again = await qrv(home, ['snap', 'web']);
    t.equal(again.exitCode, 8, again.stderr);
    t.match(again.stderr, /the snapshot store .* is immutable or append-only \(EPERM\)/);
    t.notMatch(again.stderr, /internal error/);
  },
);
