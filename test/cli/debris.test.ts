// What a failure leaves: nothing new that nobody owns. A missing fsfreeze is found before the
// snapshot row; a full snapshot store is named and leaves no folder; a first copy cut short by a
// full destination is found by doctor, and --fix removes it. Root: loop mounts and tmpfs.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { mountTmpfs } from '../helpers/tmpfs.ts';
import { unchangedBy } from '../helpers/unchanged.ts';

const TOOLS = ['mount', 'umount', 'losetup', 'mkfs.ext4'];

async function volumeWithData(t: Test, dir: string, extra: string[] = []) {
  const home = path.join(dir, 'home');
  // 6 MB that does not compress into holes: a snapshot or copy needs that much room.
  const image = await ext4Image(dir, 'vol', 16, {
    'big.bin': Buffer.from(Array.from({ length: 6_000_000 }, (_, i) => (i * 2654435761) >>> 24)),
  });
  const added = await qrv(home, ['volume', 'add', 'vol', '--path', image, ...extra]);
  t.equal(added.exitCode, 0, added.stderr);
  return { home, image, catalog: path.join(home, 'catalog.json') };
}

t.test('a mounted volume and no fsfreeze: missing-tool before anything is written', async (t) => {
  if (!lane(t, 'loop device', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const fsys = await mountLoopFs(t, dir, 'ext4', 32);
  const image = path.join(dir, 'ext4.fs.img');
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', image])).exitCode, 0);
  await fs.writeFile(path.join(fsys.mountpoint, 'data'), 'live\n');
  const bin = path.join(dir, 'bin'); // a PATH without fsfreeze
  await fs.mkdir(bin);
  const run = await unchangedBy(
    t,
    path.join(home, 'catalog.json'),
    [dir],
    () => qrv(home, ['snap', 'vol'], { PATH: bin }),
    'snap without fsfreeze',
  );
  t.equal(run.exitCode, 10, run.stderr);
  t.match(run.stderr.trim(), /^qrv: fsfreeze is not installed \(install it with: apt-get install util-linux\)$/);
});

t.test('a full snapshot store is named, and the store folder made for the snapshot is removed', async (t) => {
  if (!lane(t, 'tmpfs', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const small = await mountTmpfs(t, path.join(dir, 'small'), 4);
  const { home, catalog } = await volumeWithData(t, dir, ['--snapshot-dir', path.join(small, 'store', 'vol')]);
  const before = await fs.readdir(small);
  const run = await qrv(home, ['snap', 'vol']);
  t.equal(run.exitCode, 8, run.stderr);
  const lines = run.stderr.trim().split('\n');
  t.equal(lines.length, 1);
  t.match(lines[0], new RegExp(`^qrv: the snapshot store ${path.join(small, 'store', 'vol')} is full \\(ENOSPC\\)`));
  t.notMatch(run.stderr, /destination/, 'the destination is not blamed');
  t.same(await fs.readdir(small), before, 'no folder left in the small filesystem');
  const data = JSON.parse(await fs.readFile(catalog, 'utf8'));
  t.same(
    data.snapshots.map((s: { state: string }) => s.state),
    ['failed'],
    'the failed snapshot is recorded as failed',
  );
});

t.test('ENOSPC mid-copy: the incomplete first copy is a doctor finding, and --fix removes it', async (t) => {
  if (!lane(t, 'tmpfs', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const small = await mountTmpfs(t, path.join(dir, 'small'), 10);
  const { home } = await volumeWithData(t, dir);
  const dest = path.join(small, 'q.img');
  // The destination has room when it is checked; a pre-copy hook fills it before the copy.
  const run = await qrv(home, [
    'run',
    'vol',
    '--to',
    dest,
    '--hook',
    `pre-copy=head -c 6000000 /dev/zero > ${path.join(small, 'filler')}`,
  ]);
  t.equal(run.exitCode, 8, run.stderr);
  t.match(run.stderr, /ENOSPC/);
  const listed = await qrvJson(home, ['list']);
  const qrvId = listed.summary.qrvs[0].id as string;
  t.equal(listed.summary.qrvs[0].state, 'failed');

  const seen = await qrvJson(home, ['doctor']);
  t.equal(seen.run.exitCode, 11, 'doctor has a finding');
  t.match(seen.summary.findings, [{ kind: 'partial-qrv', subject: qrvId, action: new RegExp(`qrv remove ${qrvId}`) }]);
  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
  await t.rejects(fs.stat(dest), 'the incomplete copy is deleted');
  const again = await qrvJson(home, ['doctor']);
  t.equal(again.run.exitCode, 0, 'doctor converges');
  t.same(again.summary.findings, []);
  t.equal((await qrvJson(home, ['list', '--all'])).summary.qrvs[0].state, 'removed');
});
