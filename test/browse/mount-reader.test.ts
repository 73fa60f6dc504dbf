// Read-only mounts give nothing on the host: while root's `qrv ls` holds a copy mounted (failpoint
// after-mount), the user nobody can neither reach the mount, nor run a setuid-root binary from the
// image, nor read a host loop device through a 0666 device node in the image; and root itself
// cannot either (nosuid, nodev, noexec).
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { mountOptions } from '../../src/browse/mount-reader.ts';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { browseMounts, OWN_TMPDIR } from '../helpers/browse-tree.ts';

t.test('mount options: always ro,nosuid,nodev,noexec', async (t) => {
  for (const fsType of ['ext4', 'xfs', 'btrfs'] as const) {
    for (const isFile of [true, false])
      t.ok(
        expect(['ro', 'nosuid', 'nodev', 'noexec'])(mountOptions(fsType, isFile).options.split(',')),
        `${fsType}${isFile ? ' (image)' : ''}: ${mountOptions(fsType, isFile).options}`,
      );
  }
});

function expect(options: string[]): (actual: string[]) => boolean {
  return (actual) => options.every((o) => actual.includes(o));
}

const asNobody = (args: string[]) =>
  execa('runuser', ['-u', 'nobody', '--', ...args], { reject: false, stdin: 'ignore' });

t.test('root: a setuid-root binary and a 0666 device node in a mounted copy give nobody nothing', async (t) => {
  if (!lane(t, 'hostile mount', { root: true, tools: ['mount', 'umount', 'losetup', 'mknod', 'runuser', 'mkfs.ext4'] }))
    return;
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o755);
  const home = path.join(dir, 'home');

  // A host loop device only root may read, holding a secret.
  const secret = path.join(dir, 'secret.img');
  await fs.writeFile(secret, Buffer.concat([Buffer.from('TOP-SECRET\n'), Buffer.alloc(1024 * 1024 - 11)]), {
    mode: 0o600,
  });
  const loop = (await execa('losetup', ['-f', '--show', secret])).stdout.trim();
  t.teardown(() => execa('losetup', ['-d', loop], { reject: false }));
  await fs.chmod(loop, 0o600);
  const rdev = (await fs.stat(loop)).rdev;
  const major = Number((BigInt(rdev) >> 8n) & 0xfffn);
  const minor = Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xffffff00n));

  // The hostile image: a setuid-root copy of id, and a 0666 node of that loop device.
  const tree = path.join(dir, 'tree');
  await fs.mkdir(tree, { mode: 0o755 });
  await fs.copyFile('/usr/bin/id', path.join(tree, 'id'));
  await fs.chmod(path.join(tree, 'id'), 0o4755);
  await execa('mknod', ['-m', '0666', path.join(tree, 'disk'), 'b', String(major), String(minor)]);
  const image = path.join(dir, 'web.img');
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, image, '16M']);
  // What it would give without the mount options: the tree itself, on the host.
  t.match(
    (await asNobody([path.join(tree, 'id'), '-u'])).stdout,
    /^0$/m,
    'control: the setuid copy of id gives euid 0 where setuid counts',
  );
  t.equal(
    (await asNobody(['head', '-c', '10', path.join(tree, 'disk')])).stdout,
    'TOP-SECRET',
    'control: the 0666 node reads the host device where nodes count',
  );

  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const snap = await qrvJson(home, ['snap', 'web']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  const id = (snap.summary.snapshot as { id: string }).id;
  const child = execa(process.execPath, [BIN, '--home', home, 'ls', id, '--via', 'mount'], {
    reject: false,
    env: { CI: '', QRV_FAILPOINTS: 'after-mount=sleep:60000' },
  });
  t.teardown(() => {
    child.kill('SIGINT');
  });
  let mounts: string[] = [];
  for (let i = 0; i < 300 && mounts.length === 0; i++) {
    await sleep(100);
    mounts = await browseMounts();
  }
  t.equal(mounts.length, 1, 'qrv ls holds the snapshot mounted');
  const [, mountpoint = '', , options = ''] = mounts[0]?.split(' ') ?? [];
  t.ok(expect(['ro', 'nosuid', 'nodev', 'noexec'])(options.split(',')), `mounted ${options}`);

  const outer = path.dirname(mountpoint);
  t.equal(path.dirname(outer), OWN_TMPDIR, 'in a folder of its own under TMPDIR');
  const outerStat = await fs.stat(outer);
  t.equal(outerStat.mode & 0o7777, 0o700, 'that folder is 0700');
  t.equal(outerStat.uid, 0, "and root's");

  const idInImage = path.join(mountpoint, 'id');
  const diskInImage = path.join(mountpoint, 'disk');
  const ls = await asNobody(['ls', mountpoint]);
  t.not(ls.exitCode, 0, 'nobody cannot list the mount');
  t.match(ls.stderr, /Permission denied/);
  const run = await asNobody([idInImage, '-u']);
  t.not(run.exitCode, 0, 'nobody cannot run the setuid binary in it');
  t.notMatch(run.stdout, /^0$/m, 'no euid 0');
  const read = await asNobody(['head', '-c', '10', diskInImage]);
  t.not(read.exitCode, 0, 'nobody cannot read the host device through the node in it');
  t.notMatch(read.stdout, /TOP-SECRET/);

  // Even where it can be reached (root), nothing in it counts: noexec and nodev.
  const asRoot = await execa(idInImage, ['-u'], { reject: false });
  t.not(asRoot.exitCode, 0, 'noexec: the binary does not run even for root');
  await t.rejects(fs.readFile(diskInImage), { code: 'EACCES' }, 'nodev: the device node does not open even for root');

  child.kill('SIGINT');
  t.equal((await child).exitCode, 130);
  let left = await browseMounts();
  for (let i = 0; i < 100 && left.length; i++) {
    await sleep(100);
    left = await browseMounts();
  }
  t.same(left, [], 'unmounted once qrv was gone');
  let folder = await fs.stat(outer).catch(() => null);
  for (let i = 0; i < 50 && folder; i++) {
    await sleep(100);
    folder = await fs.stat(outer).catch(() => null);
  }
  t.notOk(folder, 'and its folders removed');
});

t.test('a TMPDIR that others can write without the sticky bit is refused', async (t) => {
  if (!lane(t, 'unsafe tmpdir', { root: true, tools: ['mount', 'mkfs.ext4'] })) return;
  const dir = await tmpDir(t);
  const open = path.join(dir, 'open');
  await fs.mkdir(open);
  await fs.chmod(open, 0o777);
  const tree = path.join(dir, 'tree');
  await fs.mkdir(tree);
  await fs.writeFile(path.join(tree, 'hello.txt'), 'hello\n');
  const image = path.join(dir, 'fs.img');
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, image, '8M']);
  const { MountReader } = await import('../../src/browse/mount-reader.ts');
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = open;
  try {
    await t.rejects(MountReader.open('ext4', image, 'x', true), {
      code: 'unsafe-tmpdir',
      exit: 'refused',
      message: /is writable by others without the sticky bit/,
    });
  } finally {
    process.env.TMPDIR = saved;
  }
  t.same(await fs.readdir(open), [], 'nothing made there');
});
