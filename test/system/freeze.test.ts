// Freezing under a guard, on real filesystems (root lane): a writer blocks while a filesystem is
// frozen and goes on when it is thawed; a failed freeze thaws what it froze; and a qrv that dies
// (SIGKILL) or hangs while a filesystem is frozen never leaves it frozen: the guard thaws it at
// once, or at its deadline.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { QrvError } from '../../src/core/errors.ts';
import { failpoint } from '../../src/core/failpoints.ts';
import { blockFreezeNests, freezeWithGuard, mountpointsOf } from '../../src/system/freeze.ts';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const TOOLS = ['mkfs.ext4', 'losetup', 'mount', 'fsfreeze', 'e2fsck'];

/** Writes a file on `mountpoint` and syncs it: blocks while the filesystem is frozen. */
function writer(mountpoint: string, name: string) {
  const started = Date.now();
  const run = execa(
    'sh',
    ['-c', `echo written > "${path.join(mountpoint, name)}" && sync -f "${path.join(mountpoint, name)}"`],
    { reject: false, timeout: 60_000 },
  );
  return { run, started, done: run.then((r) => ({ ...r, ms: Date.now() - started })) };
}

/** A frozen filesystem left behind would hang everything after: thaw whatever happens. */
function thawAtEnd(t: Test, ...mountpoints: string[]): void {
  t.teardown(async () => {
    for (const point of mountpoints) await execa('fsfreeze', ['-u', point], { reject: false });
  });
}

/** A 64 MiB ext4 image, loop-mounted (thawed and detached at the end), added as volume "vol" in a new home. */
async function loopMountedVolume(t: Test) {
  const dir = await tmpDir(t);
  const fsys = await mountLoopFs(t, dir, 'ext4', 64);
  thawAtEnd(t, fsys.mountpoint);
  const home = path.join(dir, 'home');
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', path.join(dir, 'ext4.fs.img')])).exitCode, 0);
  return { dir, fsys, home };
}

t.test('failpoints: sleep, error, unknown actions; unset costs nothing', async (t) => {
  const before = process.env.QRV_FAILPOINTS;
  t.teardown(() => {
    if (before === undefined) delete process.env.QRV_FAILPOINTS;
    else process.env.QRV_FAILPOINTS = before;
  });
  delete process.env.QRV_FAILPOINTS;
  await failpoint('mid-copy');
  process.env.QRV_FAILPOINTS = 'after-freeze=sleep:150, mid-copy=error';
  const started = Date.now();
  await failpoint('after-freeze');
  t.ok(Date.now() - started >= 140, 'slept');
  await t.rejects(failpoint('mid-copy'), /failpoint mid-copy/);
  await failpoint('before-commit');
  process.env.QRV_FAILPOINTS = 'after-snapshot=explode';
  await t.rejects(failpoint('after-snapshot'), /not an action/);
});

t.test('freezeWithGuard on a real ext4 loop mount', async (t) => {
  if (!lane(t, 'fsfreeze', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const a = await mountLoopFs(t, path.join(dir), 'ext4', 64);
  thawAtEnd(t, a.mountpoint);
  t.same(await mountpointsOf([a.device]), [a.mountpoint], 'the mountpoint of the loop device');

  const freeze = await freezeWithGuard([a.mountpoint], 30_000);
  const blocked = writer(a.mountpoint, 'during');
  await new Promise((r) => setTimeout(r, 400));
  const state = await Promise.race([blocked.done.then(() => 'finished'), Promise.resolve('blocked')]);
  t.equal(state, 'blocked', 'a writer blocks while the filesystem is frozen');
  await freeze.thaw();
  await freeze.thaw();
  const result = await blocked.done;
  t.equal(result.exitCode, 0, 'and finishes once it is thawed');
  t.equal(await fs.readFile(path.join(a.mountpoint, 'during'), 'utf8'), 'written\n');

  // A filesystem frozen already (a pre-snapshot hook's fsfreeze) is at rest: qrv takes it as it
  // is and leaves the thaw to whoever froze it.
  const bdir = await fs.mkdtemp(path.join(dir, 'b-'));
  const b = await mountLoopFs(t, bdir, 'ext4', 64);
  thawAtEnd(t, b.mountpoint);
  await execa('fsfreeze', ['-f', b.mountpoint]);
  const both = await freezeWithGuard([a.mountpoint, b.mountpoint], 30_000);
  t.same([both.mountpoints, both.alreadyFrozen], [[a.mountpoint], [b.mountpoint]]);
  await both.thaw();
  t.equal((await writer(a.mountpoint, 'a-thawed').done).exitCode, 0, 'what qrv froze is thawed');
  const stillFrozen = await execa('fsfreeze', ['-f', b.mountpoint], { reject: false });
  t.match(stillFrozen.stderr, /busy/, 'what was frozen before is still frozen');
  await execa('fsfreeze', ['-u', b.mountpoint]);

  // A filesystem that cannot be frozen (tmpfs): the error names it and nothing stays frozen.
  const cdir = await fs.mkdtemp(path.join(dir, 'c-'));
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', cdir]);
  t.teardown(() => execa('umount', [cdir], { reject: false }));
  const error = await freezeWithGuard([a.mountpoint, cdir], 30_000).catch((e: unknown) => e);
  t.ok(error instanceof QrvError, 'a failed freeze is a QrvError');
  t.match(error, { exit: 'io', code: 'freeze-failed', message: new RegExp(`cannot freeze ${cdir}`) });
  const after = await writer(a.mountpoint, 'after-failed-freeze').done;
  t.equal(after.exitCode, 0, 'the filesystem frozen before the failure was thawed');
  t.ok(after.ms < 5_000, `at once (${after.ms} ms)`);
});

t.test('qrv snap of a loop-mounted image freezes it; killed or hung while frozen, the guard thaws it', async (t) => {
  if (!lane(t, 'fsfreeze', { root: true, tools: TOOLS })) return;
  const { fsys, home } = await loopMountedVolume(t);
  await fs.writeFile(path.join(fsys.mountpoint, 'data'), 'some data\n');

  // A normal snapshot: frozen, measured, consistent.
  // (A limit far above the copy's time: this is about freezing, not the bound, and a busy machine
  // must not make the copy outlast the default 5 s; the bound is tested in max-freeze.test.ts.)
  const snap = await qrvJson(home, ['snap', 'vol', '--max-freeze', '2m']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  t.match(snap.summary.snapshot, { quiesce: 'fsfreeze', state: 'ready', consistency: 'frozen' });
  t.ok(
    snap.summary.snapshot.suspendedMs > 0,
    `the freeze window is measured (${snap.summary.snapshot.suspendedMs} ms)`,
  );
  t.notMatch(snap.run.stdout + snap.run.stderr, /not mounted|torn/, 'no warning');
  const fsck = await execa('e2fsck', ['-fn', snap.summary.snapshot.path], { reject: false });
  t.equal(fsck.exitCode, 0, `the snapshot of the frozen filesystem is clean: ${fsck.stdout}`);
  t.equal((await writer(fsys.mountpoint, 'after-snap').done).exitCode, 0, 'and it is thawed');

  // Killed with SIGKILL while frozen: the guard sees its pipe close and thaws at once.
  const killed = await execa('node', [BIN, '--home', home, 'snap', 'vol'], {
    reject: false,
    env: { QRV_FAILPOINTS: 'after-freeze=kill' },
  });
  t.equal(killed.signal, 'SIGKILL', 'qrv died while the filesystem was frozen');
  const afterKill = await writer(fsys.mountpoint, 'after-kill').done;
  t.equal(afterKill.exitCode, 0, 'a write completes');
  t.ok(afterKill.ms < 5_000, `within the guard's reaction time, not its deadline (${afterKill.ms} ms)`);

  // Hung while frozen: the guard thaws at its deadline while qrv is still there.
  const hung = execa('node', [BIN, '--home', home, 'snap', 'vol'], {
    reject: false,
    env: { QRV_FAILPOINTS: 'after-freeze=sleep:60000', QRV_FREEZE_GUARD_MS: '1500' },
  });
  t.teardown(() => {
    hung.kill('SIGKILL');
  });
  // Step records are held in memory while frozen: qrv's own output says when it froze.
  let said = '';
  const froze = new Promise<boolean>((resolve) => {
    hung.stdout?.on('data', (chunk: Buffer) => {
      said += String(chunk);
      if (/bring to rest: froze/.test(said)) resolve(true);
    });
    setTimeout(() => resolve(false), 20_000);
  });
  t.ok(await froze, `qrv froze the filesystem and hangs: ${said}`);
  const afterHang = await writer(fsys.mountpoint, 'after-hang').done;
  t.equal(afterHang.exitCode, 0, 'a write completes while qrv still hangs');
  t.ok(afterHang.ms < 6_000, `by the guard's deadline of 1.5 s (${afterHang.ms} ms)`);
  t.equal(hung.exitCode, null, 'qrv is still hanging');
  hung.kill('SIGKILL');
  await hung;

  // What the two dead jobs left: doctor finds and mends it.
  const found = await qrv(home, ['doctor']);
  t.equal(found.exitCode, 11, found.stdout);
  t.match(found.stdout, /is marked running but process \d+ is gone/);
  t.equal((await qrv(home, ['doctor', '--fix'])).exitCode, 0);
  t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing left');
});

t.test('a sub-client is frozen in one window: both filesystems at once, one group', async (t) => {
  if (!lane(t, 'fsfreeze', { root: true, tools: TOOLS })) return;
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const disks = [];
  for (const name of ['a', 'b']) {
    const sub = path.join(dir, name);
    await fs.mkdir(sub);
    const mounted = await mountLoopFs(t, sub, 'ext4', 64);
    thawAtEnd(t, mounted.mountpoint);
    disks.push({ name, ...mounted, image: path.join(sub, 'ext4.fs.img') });
    t.equal((await qrv(home, ['volume', 'add', name, '--path', path.join(sub, 'ext4.fs.img')])).exitCode, 0);
  }
  t.equal((await qrv(home, ['subclient', 'add', 'ab', '--volume', 'a', '--volume', 'b'])).exitCode, 0);
  const qrvs = path.join(dir, 'qrvs');
  await fs.mkdir(qrvs);

  // Held frozen for 1.5 s after the freeze: both filesystems must be frozen at the same time.
  const child = execa('node', [BIN, '--home', home, '--json', 'run', 'ab', '--to', qrvs, '--max-freeze', '2m'], {
    reject: false,
    env: { QRV_FAILPOINTS: 'after-freeze=sleep:1500' },
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  // Each member reports its "bring to rest" step once the group is frozen (the catalog is not
  // written inside the window); probe once both have, whatever the machine's load.
  let said = '';
  const frozen = await new Promise<boolean>((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      said += String(chunk);
      if ((said.match(/bring to rest[^\n]*froze/g) ?? []).length >= 2) resolve(true);
    });
    setTimeout(() => resolve(false), 20_000);
  });
  t.ok(frozen, 'both members said they are frozen');
  const run = child.then((r) => {
    const lines = String(r.stdout)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, any>);
    return { run: { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) }, summary: lines.at(-1) ?? {} };
  });
  const probes = disks.map((d) => writer(d.mountpoint, 'probe'));
  const done = await Promise.all(probes.map((p) => p.done));
  for (const [index, result] of done.entries()) {
    t.equal(result.exitCode, 0);
    t.ok(result.ms > 300, `a write to ${disks[index]?.name} waited for the group's thaw (${result.ms} ms)`);
  }
  const { run: ran, summary } = await run;
  t.equal(ran.exitCode, 0, ran.stderr);
  const snapshots = summary.snapshots as Array<{ groupId: string; quiesce: string; suspendedMs: number }>;
  t.equal(snapshots.length, 2);
  t.equal(new Set(snapshots.map((s) => s.groupId)).size, 1, 'one group');
  t.ok(
    snapshots.every((s) => s.quiesce === 'fsfreeze' && s.suspendedMs >= 1500),
    `both frozen through the held window (${snapshots.map((s) => s.suspendedMs).join(', ')} ms)`,
  );
  for (const d of disks) {
    const fsck = await execa('e2fsck', ['-fn', path.join(qrvs, `${d.name}.qrv.img`)], { reject: false });
    t.equal(fsck.exitCode, 0, `the QRV of ${d.name} is a clean filesystem`);
  }
});

t.test('fsfreeze not installed: one line naming util-linux (exit 10), nothing frozen, no snapshot left', async (t) => {
  if (!lane(t, 'fsfreeze', { root: true, tools: TOOLS })) return;
  const { dir, fsys, home } = await loopMountedVolume(t);
  // A PATH with every program of this machine but fsfreeze.
  const bin = path.join(dir, 'bin');
  await fs.mkdir(bin);
  for (const folder of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
      if (name !== 'fsfreeze') await fs.symlink(path.join(folder, name), path.join(bin, name)).catch(() => undefined);
    }
  }
  const snap = await qrvJson(home, ['snap', 'vol'], { PATH: bin });
  t.equal(snap.run.exitCode, 10, snap.run.stderr);
  t.match(JSON.parse(snap.run.stderr), {
    message_type: 'error',
    code: 'missing-tool',
    exitCode: 10,
    message: 'fsfreeze is not installed',
    hint: 'install it with: apt-get install util-linux',
  });
  t.equal((await writer(fsys.mountpoint, 'after').done).exitCode, 0, 'the filesystem is not frozen');
  const listed = await qrvJson(home, ['list', '--all']);
  t.same(listed.summary.snapshots, [], 'no snapshot row: the missing tool is found before anything is written');
  t.same(await fs.readdir(path.join(dir, '.qrv-snapshots')).catch(() => []), [], 'and no snapshot file is left');
});

t.test('blockFreezeNests: a device suspend nests inside FIFREEZE from Linux 6.8', async (t) => {
  for (const release of ['6.1.0-57-amd64', '5.14.0-427.el9.x86_64', '6.7.12', '4.19.0-27-amd64', 'garbage'])
    t.notOk(blockFreezeNests(release), release);
  for (const release of ['6.8.0-45-generic', '6.12.95+deb12-amd64', '6.10.3', '7.0.1'])
    t.ok(blockFreezeNests(release), release);
});
