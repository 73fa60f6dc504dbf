// Sizes as admins write them, and measuring members on the real filesystem (and, as root, a loop device).
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { QrvError } from '../../src/core/errors.ts';
import { measureMember, parseSize } from '../../src/pools/capacity.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const KiB = 1024;
const MiB = KiB ** 2;
const GiB = KiB ** 3;

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

t.test('parseSize: number and binary unit, with or without B or iB, any case', async (t) => {
  const cases: [string, number][] = [
    ['10G', 10 * GiB],
    ['10g', 10 * GiB],
    ['10GB', 10 * GiB],
    ['10GiB', 10 * GiB],
    ['10 GiB', 10 * GiB],
    ['512M', 512 * MiB],
    ['512MiB', 512 * MiB],
    ['512mb', 512 * MiB],
    ['4k', 4 * KiB],
    ['1.5T', 1.5 * 1024 * GiB],
    ['2P', 2 * 1024 ** 5],
    ['1048576', MiB],
    ['100B', 100],
    [' 7 ', 7],
  ];
  for (const [text, value] of cases) t.equal(parseSize(text), value, text);
});

t.test('parseSize refuses anything else with a usage error that names the value', async (t) => {
  for (const text of ['', 'abc', '10Q', '-1G', '0', '0G', '1.5', '10 G B', '1e3', 'G', '10GiBs', '0.0001K']) {
    let error: unknown;
    try {
      parseSize(text, '--capacity');
    } catch (caught) {
      error = caught;
    }
    t.ok(error instanceof QrvError, `"${text}" refused`);
    t.match(error, { exit: 'usage', code: 'bad-size', message: `--capacity "${text}" is not a size` });
  }
});

t.test('a new file path: the filesystem free space, or the capacity given', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'm.img');
  const measured = await measureMember(file, null);
  const room = await fs.statfs(dir);
  t.match(measured, {
    path: path.join(await fs.realpath(dir), 'm.img'),
    kind: 'file',
    capacityFrom: 'filesystem',
    existingBytes: 0,
  });
  t.ok(
    Math.abs(measured.capacityBytes - room.bavail * room.bsize) < 64 * MiB,
    'about the free space of the filesystem',
  );
  t.same(await measureMember(file, 5 * GiB), {
    path: measured.path,
    kind: 'file',
    capacityBytes: 5 * GiB,
    capacityFrom: 'given',
    existingBytes: 0,
  });
  await t.rejects(fs.stat(file), 'nothing created');
});

t.test('an existing file: what it occupies counts as room; symlinks are resolved', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'old.img');
  await fs.writeFile(file, Buffer.alloc(4 * MiB, 1));
  const st = await fs.stat(file);
  const measured = await measureMember(file, null);
  t.equal(measured.existingBytes, st.blocks * 512);
  t.ok(measured.existingBytes >= 4 * MiB);
  const room = await fs.statfs(dir);
  t.ok(
    measured.capacityBytes >= room.bavail * room.bsize + measured.existingBytes - 64 * MiB,
    'free space plus the file',
  );
  const link = path.join(dir, 'link.img');
  await fs.symlink(file, link);
  t.equal((await measureMember(link, GiB)).path, await fs.realpath(file), 'the path is the real file');
  t.equal(await fs.readFile(file).then((b) => b.length), 4 * MiB, 'the file is untouched');
});

t.test('refused: a missing folder, a folder, something neither file nor device', async (t) => {
  const dir = await tmpDir(t);
  t.match(await errorOf(measureMember(path.join(dir, 'no', 'm.img'), null)), {
    exit: 'refused',
    code: 'member-folder',
    message: /folder .*\/no does not exist/,
  });
  t.match(await errorOf(measureMember(dir, GiB)), { exit: 'refused', code: 'member-kind', message: /is a folder/ });
  t.match(await errorOf(measureMember('/dev/null', null)), {
    exit: 'refused',
    code: 'member-kind',
    message: /neither a file nor a block device/,
  });
  const file = path.join(dir, 'f');
  await fs.writeFile(file, 'x');
  t.match(
    await errorOf(measureMember(path.join(file, 'm.img'), null)),
    { code: /member-folder|stat-failed/ },
    'a "folder" that is a file',
  );
});

t.test('loop lane: a block device has its size; --capacity at most that (root)', async (t) => {
  if (!lane(t, 'loop device', { root: true, tools: ['losetup'] })) return;
  const dir = await tmpDir(t);
  const backing = path.join(dir, 'disk.img');
  await fs.writeFile(backing, Buffer.alloc(8 * MiB));
  const device = (await execa('losetup', ['-f', '--show', backing])).stdout.trim();
  t.teardown(() => execa('losetup', ['-d', device], { reject: false }));
  t.same(await measureMember(device, null), {
    path: await fs.realpath(device),
    kind: 'block',
    capacityBytes: 8 * MiB,
    capacityFrom: 'device',
    existingBytes: 0,
  });
  t.match(await measureMember(device, 4 * MiB), { kind: 'block', capacityBytes: 4 * MiB, capacityFrom: 'given' });
  t.match(await errorOf(measureMember(device, 9 * MiB)), {
    exit: 'usage',
    code: 'capacity-too-large',
    message: /--capacity 9\.00 MiB is larger than device .* \(8\.00 MiB\)/,
  });
});

t.test('loop lane: a mounted device is refused; a file on it gets that filesystem free space (root)', async (t) => {
  if (!lane(t, 'loop device', { root: true, tools: ['losetup', 'mkfs.ext4', 'mount'] })) return;
  const dir = await tmpDir(t);
  const { device, mountpoint } = await mountLoopFs(t, dir, 'ext4', 64);
  t.match(await errorOf(measureMember(device, null)), {
    exit: 'refused',
    code: 'member-mounted',
    message: `${device} is mounted`,
  });
  const measured = await measureMember(path.join(mountpoint, 'q.img'), null);
  const room = await fs.statfs(mountpoint);
  t.equal(measured.capacityBytes, room.bavail * room.bsize, 'the free space of that filesystem');
  t.ok(
    measured.capacityBytes < 64 * MiB && measured.capacityBytes > 32 * MiB,
    `about 64 MiB less overhead (${measured.capacityBytes})`,
  );
});

t.test('parseSize refuses a size beyond 2^53-1 bytes with the limit', async (t) => {
  for (const text of ['9000P', '99999999999999999999', '8193T']) {
    t.throws(
      () => parseSize(text, '--capacity'),
      {
        exit: 'usage',
        code: 'size-too-large',
        message: `--capacity "${text}" is larger than the limit of 8 PiB (2^53-1 bytes)`,
      },
      text,
    );
  }
  t.equal(parseSize('8191T'), 8191 * 1024 ** 4, 'just under the limit is a size');
});
