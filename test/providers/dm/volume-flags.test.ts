// `qrv volume add` / `volume activate` flags for the dm provider, on the host: the refusals that
// come before any device-mapper call (the host kernel has none; everything dm runs in the VM
// lane, test/providers/dm/dm-provider.test.ts). Runs the built bin/qrv (`npm run build`).
import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { qrv } from '../../helpers/cli.ts';
import { tmpDir } from '../../helpers/tmp.ts';

async function refused(t: Test, home: string, args: string[], exit: number, message: RegExp): Promise<void> {
  const run = await qrv(home, args);
  t.equal(run.exitCode, exit, `${args.join(' ')}: exit ${exit}`);
  t.match(run.stderr, message);
  t.equal(run.stderr.trim().split('\n').length, 1, 'one line');
}

t.test('volume add: --device, --cow-*, --snapshot-dir flags are checked before anything is done', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'v.img');
  await fs.writeFile(image, Buffer.alloc(1024 * 1024));
  await refused(t, home, ['volume', 'add', 'v'], 2, /no volume given \(give the image or device with --path\)/);
  await refused(t, home, ['volume', 'add', 'v', '--provider', 'dm'], 2, /give the block device with --device/);
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--device', image],
    2,
    /--device is for providers that take a device over \(dm\), not file/,
  );
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--provider', 'dm', '--device', '/dev/null', '--path', '/dev/null'],
    2,
    /give --path or --device, not both/,
  );
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--path', image, '--cow-dir', dir],
    2,
    /--cow-dir is for the dm provider, not file/,
  );
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--path', image, '--cow-device', '/dev/null'],
    2,
    /--cow-device is for the dm provider/,
  );
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--provider', 'lvm', '--path', '/dev/vg/lv', '--snapshot-dir', dir],
    2,
    /--snapshot-dir is for the file provider, not lvm \(leave it out: lvm snapshots are logical volumes/,
  );
  await refused(
    t,
    home,
    ['volume', 'add', 'v', '--provider', 'dm', '--device', '/dev/null', '--snapshot-dir', dir],
    2,
    /--snapshot-dir is for the file provider, not dm \(leave it out: dm snapshots keep their changes in a COW store/,
  );
  for (const bad of ['0', '101', 'abc', '-5', '']) {
    await refused(
      t,
      home,
      ['volume', 'add', 'v', '--provider', 'lvm', '--path', '/dev/vg/lv', '--cow-percent', bad],
      2,
      /is not a percentage \(give a number above 0 and at most 100/,
    );
  }
  if (process.getuid?.() === 0) {
    // adopt's own first checks, still before dmsetup is called
    await refused(
      t,
      home,
      ['volume', 'add', 'v', '--provider', 'dm', '--device', '/dev/null'],
      2,
      /\/dev\/null is not a block device/,
    );
    await refused(
      t,
      home,
      ['volume', 'add', 'v', '--provider', 'dm', '--device', path.join(dir, 'nothere')],
      8,
      /cannot use .*nothere \(ENOENT\)/,
    );
    await refused(
      t,
      home,
      ['volume', 'add', 'a-real', '--provider', 'dm', '--device', '/dev/null'],
      2,
      /would look like another volume's -real or -snap- device/,
    );
  } else {
    await refused(
      t,
      home,
      ['volume', 'add', 'v', '--provider', 'dm', '--device', '/dev/null'],
      10,
      /the dm provider needs root/,
    );
  }
  const list = await qrv(home, ['--json', 'volume', 'list']);
  t.match(list.stdout, /"volumes":\[\]/, 'no volume was recorded');
});

t.test('volume activate: names or --all, dm volumes only', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'v.img');
  await fs.writeFile(image, Buffer.alloc(1024 * 1024));
  t.equal((await qrv(home, ['volume', 'add', 'v', '--path', image])).exitCode, 0);
  await refused(t, home, ['volume', 'activate'], 2, /no volume given \(name the volumes, or give --all/);
  await refused(
    t,
    home,
    ['volume', 'activate', 'v'],
    2,
    /volume "v" is a file volume: only dm volumes \(and volumes an instant recovery is copying onto\) are activated/,
  );
  await refused(t, home, ['volume', 'activate', 'nope'], 3, /no volume named "nope"/);
  const all = await qrv(home, ['volume', 'activate', '--all']);
  t.equal(all.exitCode, 0);
  t.match(all.stdout, /no dm volumes in the catalog/);
});
