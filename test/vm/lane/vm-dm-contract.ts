// Run inside the VM lane (test/providers/dm/dm-provider.test.ts boots it): the shared provider
// contract against the dm provider, with changed ranges expected, and the dm provider's own
// checks. The plain block devices it adopts stand in for /dev/sdX: linear dm devices (not qrv's)
// carved out of the VM's blank data disk. Prints TAP; bundled on the host and run with `node` as
// root, only in the VM (vmTapFile(), test/helpers/vm-bundle.ts).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import t from 'tap';
import { dmProvider } from '../../../src/providers/dm/dm-provider.ts';
import { blockDeviceId, holdersOf } from '../../../src/providers/dm/devices.ts';
import type { VolumeRef } from '../../../src/providers/provider.ts';
import { providerContract } from '../../helpers/provider-contract.ts';

// Under software emulation the whole run takes a minute or two: more than tap's default 30 s.
t.setTimeout(300_000);

// Only ever inside the VM, on its blank data disk: never on a host's disks.
const disk = process.env.QRV_VM_DISK;
if (!disk || !process.env.QRV_VM_OUT) {
  console.log('1..0 # SKIP runs only inside the VM lane (test/providers/dm/dm-provider.test.ts boots it)');
  process.exit(0);
}
const HOME = '/tmp/qrv-dm-home';
const MIB_SECTORS = 2048;
const run = (program: string, ...args: string[]): string =>
  execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const dmsetup = (...args: string[]): string => run('dmsetup', ...args);

// Plain devices of `mib` MiB, one after another on the data disk.
let nextSector = 0;
let plains = 0;
function plainDevice(mib = 16): string {
  const name = `plain${++plains}`;
  dmsetup('create', '--verifyudev', name, '--table', `0 ${mib * MIB_SECTORS} linear ${disk} ${nextSector}`);
  nextSector += mib * MIB_SECTORS;
  return `/dev/mapper/${name}`;
}

async function writeAt(devicePath: string, offset: number, data: Buffer): Promise<void> {
  // A path that is not a block device would be created as a file under /dev: never write there.
  if (!(await fs.stat(devicePath)).isBlockDevice()) throw new Error(`${devicePath} is not a block device`);
  const handle = await fs.open(devicePath, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
const write = (volume: VolumeRef, offset: number, data: Buffer): Promise<void> => writeAt(volume.path, offset, data);

async function checksum(devicePath: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(devicePath))
    .digest('hex');
}

let volumes = 0;
async function makeVolume(options: Record<string, string> = {}, device = plainDevice()): Promise<VolumeRef> {
  await writeAt(device, 0, randomBytes(1024 * 1024));
  const name = `v${++volumes}`;
  return dmProvider.adopt!(
    { name, provider: 'dm', path: device, options: { ...dmProvider.defaultOptions(device, name), ...options, device } },
    { home: HOME },
  );
}

const qrvDevices = (): string[] =>
  dmsetup('ls')
    .split('\n')
    .map((line) => line.split('\t')[0] ?? '')
    .filter((name) => name.startsWith('qrv-'));
const loops = (): string => run('losetup', '-a').trim();
const target = (name: string): string => dmsetup('table', name).trim().split(/\s+/)[2] ?? '';

t.test('the shared contract', async (t) => {
  providerContract(t as never, { provider: dmProvider, makeVolume: () => makeVolume(), write, expectRanges: true });
});

t.test('the contract left nothing behind', async (t) => {
  // Each contract volume is adopted and never released: only their origins may be left.
  t.same(
    qrvDevices().filter((name) => !/^qrv-v\d+$/.test(name)),
    [],
    'no snapshot or -real device',
  );
  t.equal(loops(), '', 'no loop device');
  t.same(await fs.readdir(`${HOME}/cow`), [], 'no COW file');
});

t.test('adopt and release leave the device byte for byte as it was', async (t) => {
  const device = plainDevice();
  await writeAt(device, 0, randomBytes(16 * 1024 * 1024));
  const before = await checksum(device);
  const volume = await dmProvider.adopt!(
    { name: 'keep', provider: 'dm', path: device, options: { device } },
    { home: HOME },
  );
  t.equal(volume.path, '/dev/mapper/qrv-keep');
  t.match(volume.options, { device, cowDir: `${HOME}/cow`, cowPercent: '20' });
  t.equal(run('dmsetup', 'info', '-c', '--noheadings', '-o', 'uuid', 'qrv-keep').trim(), 'QRV-keep', "qrv's UUID");
  t.equal(target('qrv-keep'), 'linear');
  t.equal(await checksum(volume.path), before, 'the qrv device reads the same bytes');
  t.equal((await dmProvider.inspect(volume)).sizeBytes, 16 * 1024 * 1024);
  const made = await dmProvider.createSnapshot(volume, 's-000000a1');
  t.equal(made.method, 'dm-snapshot');
  t.equal(made.path, '/dev/mapper/qrv-keep-snap-s-000000a1');
  t.equal(target('qrv-keep'), 'snapshot-origin', 'a snapshot makes the origin a snapshot-origin');
  t.match(dmsetup('info', 'qrv-keep-snap-s-000000a1'), /READ-ONLY/, 'the snapshot is read-only');
  t.equal(await checksum(made.path), before, 'the snapshot reads the same bytes');
  await t.rejects(
    dmProvider.release!(volume),
    { code: 'volume-has-snapshots', exit: 'refused' },
    'release refuses while a snapshot is held',
  );
  await dmProvider.removeSnapshot(volume, made.handle);
  t.equal(target('qrv-keep'), 'linear', 'the last snapshot gone, the origin is linear again');
  t.notOk(qrvDevices().includes('qrv-keep-real'), '-real is gone');
  await dmProvider.release!(volume);
  t.notOk(qrvDevices().includes('qrv-keep'), 'qrv-keep is gone');
  t.equal(await checksum(device), before, 'the device is byte for byte as before');
  t.same(await holdersOf((await blockDeviceId(device)) as string), [], 'nothing holds the device any more');
  await dmProvider.release!(volume);
  t.ok(true, 'releasing again is not an error');
  await t.rejects(
    dmProvider.inspect(volume),
    { code: 'volume-inactive', exit: 'io' },
    'a released volume is inactive, its device still there',
  );
});

t.test('refusals, and nothing left half made', async (t) => {
  const base = { provider: 'dm', options: {} };
  await t.rejects(
    dmProvider.adopt!(
      { ...base, name: 'file', path: '/tmp/not-a-device', options: { device: '/tmp/not-a-device' } },
      { home: HOME },
    ),
    { code: 'volume-missing' },
    'a missing device',
  );
  await fs.writeFile('/tmp/regular', 'x');
  await t.rejects(
    dmProvider.adopt!({ ...base, name: 'file', path: '/tmp/regular' }, { home: HOME }),
    { code: 'not-a-block-device', exit: 'usage' },
    'a regular file',
  );
  const mounted = plainDevice();
  run('mkfs.ext4', '-q', mounted);
  await fs.mkdir('/mnt/m', { recursive: true });
  run('mount', mounted, '/mnt/m');
  const busy = await dmProvider.adopt!({ ...base, name: 'busy', path: mounted }, { home: HOME }).catch(
    (e: unknown) => e,
  );
  t.match(busy, { code: 'device-busy', exit: 'refused' }, 'a mounted device');
  t.match(
    (busy as Error & { hint: string }).hint,
    /unmount it.*mount \/dev\/mapper\/qrv-busy/,
    'the hint says what to do',
  );
  run('umount', '/mnt/m');
  const held = await makeVolume();
  await t.rejects(
    dmProvider.adopt!({ ...base, name: 'twice', path: held.options.device as string }, { home: HOME }),
    { code: 'device-busy' },
    'a device adopted already (held by qrv-vN)',
  );
  await t.rejects(
    dmProvider.adopt!({ ...base, name: 'qrvs', path: held.path }, { home: HOME }),
    { code: 'device-is-qrv' },
    "qrv's own device",
  );
  await t.rejects(
    dmProvider.adopt!({ ...base, name: 'x-real', path: plainDevice(1) }, { home: HOME }),
    { code: 'bad-volume-name' },
    'a name that would collide',
  );
  await t.rejects(
    dmProvider.adopt!({ ...base, name: held.name, path: plainDevice(1) }, { home: HOME }),
    { code: 'dm-name-taken' },
    'a name whose qrv device exists',
  );
  t.notOk(
    qrvDevices().some((name) => /^qrv-(busy|twice|qrvs|file|x-real)/.test(name)),
    'no refused adopt left a device',
  );

  // foreign handles: never removed
  await t.rejects(dmProvider.removeSnapshot(held, 'plain1'), { code: 'foreign-handle', exit: 'refused' });
  dmsetup('create', '--verifyudev', `qrv-${held.name}-snap-s-0000dead`, '--table', `0 ${MIB_SECTORS} zero`);
  await t.rejects(
    dmProvider.removeSnapshot(held, `qrv-${held.name}-snap-s-0000dead`),
    { code: 'foreign-handle' },
    "qrv's name without qrv's UUID",
  );
  t.same(await dmProvider.listSnapshots(held), [], 'and it is not listed as a snapshot');
  t.ok(qrvDevices().includes(`qrv-${held.name}-snap-s-0000dead`), 'it is still there');
  dmsetup('remove', '--verifyudev', `qrv-${held.name}-snap-s-0000dead`);

  // a snapshot that fails while the origin is suspended: a COW device too small for one chunk
  const tiny = plainDevice(1);
  dmsetup('create', '--verifyudev', 'tiny', '--table', `0 4 linear ${tiny} 0`);
  const failed = await dmProvider
    .createSnapshot({ ...held, options: { ...held.options, cowDevice: '/dev/mapper/tiny' } }, 's-000000b1')
    .catch((e: unknown) => e);
  t.match(failed, { name: 'QrvError', exit: 'io' }, `a failed snapshot is an io error: ${(failed as Error).message}`);
  t.same(
    qrvDevices().filter((name) => name.startsWith(`qrv-${held.name}`)),
    [`qrv-${held.name}`],
    'the origin is all that is left (no -real, no snapshot)',
  );
  t.equal(target(`qrv-${held.name}`), 'linear', 'still linear');
  t.match(dmsetup('info', `qrv-${held.name}`), /State:\s+ACTIVE\n/, 'and resumed');
  await write(held, 0, randomBytes(4096));
  t.ok(true, 'the origin takes writes');

  // a COW folder that cannot be made
  const noDir = await dmProvider
    .createSnapshot({ ...held, options: { ...held.options, cowDir: '/tmp/regular/cow' } }, 's-000000b2')
    .catch((e: unknown) => e);
  t.match(noDir, { code: 'cow-dir-unusable' }, 'a COW folder under a file');
  t.equal(loops(), '', 'no loop device left');

  // release of a mounted volume
  run('mkfs.ext4', '-q', held.path);
  run('mount', held.path, '/mnt/m');
  await t.rejects(
    dmProvider.release!(held),
    { code: 'device-busy', exit: 'refused' },
    'release refuses a mounted volume',
  );
  run('umount', '/mnt/m');
  await dmProvider.release!(held);
  t.notOk(qrvDevices().includes(`qrv-${held.name}`), 'released once unmounted');
});

t.test('a snapshot of a mounted filesystem is a clean filesystem', async (t) => {
  const volume = await makeVolume();
  run('mkfs.ext4', '-q', volume.path);
  await fs.mkdir('/mnt/o', { recursive: true });
  await fs.mkdir('/mnt/s', { recursive: true });
  run('mount', volume.path, '/mnt/o');
  await fs.writeFile('/mnt/o/file.txt', 'before');
  const made = await dmProvider.createSnapshot(volume, 's-000000c1');
  t.ok(made.suspendedMs > 0, `the origin was suspended ${made.suspendedMs.toFixed(1)} ms`);
  await fs.writeFile('/mnt/o/file.txt', 'after');
  await fs.writeFile('/mnt/o/more.txt', randomBytes(1024 * 1024));
  run('sync');
  let fsck = 0;
  try {
    run('e2fsck', '-fn', made.path);
  } catch (error) {
    fsck = (error as { status: number }).status;
  }
  t.equal(fsck, 0, 'e2fsck finds the snapshot clean (the suspend froze the filesystem)');
  run('mount', '-o', 'ro,noload', made.path, '/mnt/s');
  t.equal(await fs.readFile('/mnt/s/file.txt', 'utf8'), 'before', 'the snapshot has the old content');
  t.equal(await fs.readFile('/mnt/o/file.txt', 'utf8'), 'after', 'the origin the new');
  await t.rejects(
    dmProvider.removeSnapshot(volume, made.handle),
    { code: 'snapshot-busy', exit: 'busy' },
    'a mounted snapshot is not removed',
  );
  t.match(
    dmsetup('info', volume.path.replace('/dev/mapper/', '')),
    /State:\s+ACTIVE\n/,
    'the origin is resumed after the refusal',
  );
  run('umount', '/mnt/s');
  // frozen by the engine (FIFREEZE) first: the suspend must not freeze it again
  run('fsfreeze', '-f', '/mnt/o');
  let frozen;
  try {
    frozen = await dmProvider.createSnapshot(volume, 's-000000c2', { frozen: true });
  } finally {
    run('fsfreeze', '-u', '/mnt/o');
  }
  let fsck2 = 0;
  try {
    run('e2fsck', '-fn', frozen.path);
  } catch (error) {
    fsck2 = (error as { status: number }).status;
  }
  t.equal(fsck2, 0, 'a snapshot of a filesystem frozen by FIFREEZE is clean too (suspend --nolockfs)');
  await dmProvider.removeSnapshot(volume, frozen.handle);
  const ranges = await dmProvider.changedRanges!(volume, made, made);
  t.ok(ranges && ranges.length > 0, `the snapshot's own exceptions are ranges (${ranges?.length})`);
  await dmProvider.removeSnapshot(volume, made.handle);
  t.equal(await fs.readFile('/mnt/o/file.txt', 'utf8'), 'after', 'the origin stays mounted and readable');
  run('umount', '/mnt/o');
  await dmProvider.release!(volume);
});

t.test('a COW device: one snapshot at a time, changed ranges read from it', async (t) => {
  const cowDevice = plainDevice(8);
  const volume = await makeVolume({ cowDevice });
  t.equal(volume.options.cowDevice, cowDevice);
  await writeAt(cowDevice, 0, Buffer.alloc(4096, 0x53)); // rubbish where the store's header goes
  const a = await dmProvider.createSnapshot(volume, 's-000000d1');
  t.equal(
    dmsetup('table', a.handle).trim().split(/\s+/)[4],
    dmsetup(
      'info',
      '-c',
      '--noheadings',
      '-o',
      'major,minor',
      '--separator',
      ':',
      cowDevice.replace('/dev/mapper/', ''),
    ).trim(),
    "the snapshot's COW is the given device",
  );
  await t.rejects(
    dmProvider.createSnapshot(volume, 's-000000d2'),
    { code: 'cow-device-busy', exit: 'refused' },
    'a second snapshot on the same COW device is refused',
  );
  t.same(
    (await dmProvider.listSnapshots(volume)).map((s) => s.snapshotId),
    ['s-000000d1'],
    'and left nothing',
  );
  await write(volume, 3 * 1024 * 1024, randomBytes(8192));
  t.same(
    await dmProvider.changedRanges!(volume, a, a),
    [{ start: 3 * 1024 * 1024, end: 3 * 1024 * 1024 + 8192 }],
    'the chunks written since',
  );
  t.same(
    await dmProvider.snapshotHealth!(volume, a),
    { invalid: false, usedPercent: ((4 * 8) / 16384) * 100 },
    'header, one metadata and two data chunks used of 8 MiB',
  );
  await dmProvider.removeSnapshot(volume, a.handle);
  t.equal(loops(), '', 'no loop device was made');
  await dmProvider.release!(volume);
});

t.test('a COW store that overflows makes the snapshot invalid', async (t) => {
  const volume = await makeVolume({ cowPercent: '1' }); // 1 % of 16 MiB: the 4 MiB minimum
  const a = await dmProvider.createSnapshot(volume, 's-000000e1');
  t.equal(
    Number(
      run(
        'blockdev',
        '--getsize64',
        run('losetup', '-j', `${HOME}/cow/${volume.name}@s-000000e1.cow`).split(':')[0] as string,
      ).trim(),
    ),
    4 * 1024 * 1024,
    'a 4 MiB COW file',
  );
  await write(volume, 0, randomBytes(8 * 1024 * 1024));
  t.match(dmsetup('status', a.handle), /snapshot Invalid/, 'dmsetup status says Invalid');
  t.same(
    await dmProvider.snapshotHealth!(volume, a),
    { invalid: true, usedPercent: null },
    'snapshotHealth says invalid',
  );
  const b = await dmProvider.createSnapshot(volume, 's-000000e2');
  t.same(
    await dmProvider.snapshotHealth!(volume, b),
    { invalid: false, usedPercent: (16 / 8192) * 100 },
    'a new snapshot is valid',
  );
  t.equal(await dmProvider.changedRanges!(volume, a, b), null, 'no changed ranges from an invalid snapshot');
  t.equal(await dmProvider.changedRanges!(volume, b, a), null, 'in either order');
  await dmProvider.removeSnapshot(volume, a.handle);
  await dmProvider.removeSnapshot(volume, b.handle);
  t.same(await fs.readdir(`${HOME}/cow`), [], 'the COW files are deleted');
  await dmProvider.release!(volume);
});

t.test("at the end nothing of qrv is left but the contract's volumes", async (t) => {
  t.same(
    qrvDevices().filter((name) => !/^qrv-v\d+$/.test(name)),
    [],
    `dmsetup ls: ${qrvDevices().join(' ')}`,
  );
  t.equal(loops(), '', 'losetup -a is empty');
});
