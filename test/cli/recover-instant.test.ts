// `qrv recover --instant` on the host (issue 16): a file volume on a reflink filesystem (XFS, as
// root) becomes a clone of its QRV in constant time, keeping its mode; elsewhere (ext4, tmpfs, or
// the QRV on another filesystem) qrv says why it cannot be instant and writes back only what
// differs. The options' rules. The dm and lvm mirror runs in the VM lane (test/services/instant-vm.test.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;

/** A file volume of `mib` MiB in `dir`, a QRV of it in `qrvDir`, then the volume damaged. */
async function damaged(t: Test, dir: string, qrvDir: string, mib: number) {
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  await fs.writeFile(image, randomBytes(mib * MiB), { mode: 0o640 });
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', image])).exitCode, 0);
  const run = await qrvJson(home, ['run', 'vol', '--to', `${qrvDir}/`]);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  const q = (run.summary as { qrv: { id: string; destination: string } }).qrv;
  const handle = await fs.open(image, 'r+');
  await handle.write(randomBytes(MiB), 0, MiB, 3 * MiB);
  await handle.close();
  return { home, image, qrvId: q.id, qrvPath: q.destination };
}

const same = async (a: string, b: string): Promise<boolean> =>
  Buffer.compare(await fs.readFile(a), await fs.readFile(b)) === 0;

t.test('xfs reflink lane: the image becomes a clone of the QRV, in constant time', async (t) => {
  if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'losetup', 'mount'] })) return;
  const outside = await tmpDir(t, 'qrv-instant-xfs-');
  const { mountpoint } = await mountLoopFs(t, outside, 'xfs', 512);
  const v = await damaged(t, mountpoint, mountpoint, 96);
  const out = await qrvJson(v.home, ['recover', 'vol', '--from', v.qrvId, '--instant']);
  t.equal(out.run.exitCode, 0, out.run.stderr);
  const data = out.summary as { method: string; usableSeconds: number; bytesWritten: number };
  t.match(data, { method: 'reflink', finished: true, bytesWritten: 0 });
  t.ok(data.usableSeconds < 2, `usable after ${data.usableSeconds} s`);
  t.ok(await same(v.image, v.qrvPath), 'the image is the QRV, byte for byte');
  t.equal((await fs.stat(v.image)).mode & 0o777, 0o640, 'and keeps its mode');
  // shared, not copied: filefrag would say "shared"; the QRV still verifies after a write to the image
  const handle = await fs.open(v.image, 'r+');
  await handle.write(randomBytes(4096), 0, 4096, 0);
  await handle.close();
  t.equal((await qrv(v.home, ['verify', v.qrvId])).exitCode, 0, 'a write to the image does not reach the QRV');
});

t.test('no reflink: says why, and writes back only what differs', async (t) => {
  const dir = await tmpDir(t, 'qrv-instant-plain-');
  const v = await damaged(t, dir, dir, 16);
  const out = await qrvJson(v.home, ['recover', 'vol', '--from', v.qrvId, '--instant']);
  t.equal(out.run.exitCode, 0, out.run.stderr);
  const data = out.summary as { method: string; instant: boolean; why: string; bytesWritten: number };
  if (data.method === 'reflink') {
    t.comment('this tmp filesystem can reflink: the fallback is tested in the XFS lane only');
    return;
  }
  t.match(data, { instant: false, why: /cannot reflink/, method: 'ledger' });
  t.ok(data.bytesWritten <= 2 * MiB, `wrote ${data.bytesWritten} bytes, not the whole image`);
  t.match(out.run.stdout + out.run.stderr, /cannot recover vol instantly: .*writing back only what differs instead/);
  t.ok(await same(v.image, v.qrvPath), 'the image is the QRV, byte for byte');
});

t.test("promote --migrate-to takes a block device of the QRV's size only", async (t) => {
  const dir = await tmpDir(t, 'qrv-migrate-');
  const v = await damaged(t, dir, dir, 8);
  const file = path.join(dir, 'other.img');
  await fs.writeFile(file, Buffer.alloc(MiB));
  const run = await qrvJson(v.home, ['promote', v.qrvId, '--migrate-to', file, '--force']);
  t.equal(run.run.exitCode, 4);
  t.match(run.run.stdout + run.run.stderr, /is not a block device/);
  const list = await qrvJson(v.home, ['volume', 'list']);
  t.match(JSON.stringify(list.summary), v.image, 'the volume did not move');
});

t.test('the options of --instant and --status', async (t) => {
  const home = await tmpDir(t, 'qrv-instant-usage-');
  for (const [args, message] of [
    [['recover', 'vol', '--instant'], /needs a volume and --from/],
    [['recover', 'vol', '--from', 'q-1', '--instant', '--to', '/tmp/x'], /--instant does not go with --to/],
    [['recover', 'vol', '--from', 'q-1', '--instant', '--full'], /--instant does not go with --full/],
    [['recover', '--status', '--from', 'q-1'], /--status does not go with --from/],
    [['recover', 'vol', '--from', 'q-1', '--throttle', '5'], /--throttle and --no-wait go with --instant/],
    [['recover', 'vol', '--from', 'q-1', '--no-wait'], /--throttle and --no-wait go with --instant/],
    [
      ['recover', 'vol', '--from', 'q-1', '--instant', '--throttle', '25'],
      /a share of time from 1% to 100%, or a rate/,
    ],
    [['recover', 'vol', '--from', 'q-1', '--instant', '--throttle', '0%'], /a share of time from 1% to 100%/],
    [
      ['recover', 'vol', '--from', 'q-1', '--instant', '--no-wait', '--throttle', '40M'],
      /--throttle 40M is a rate, which the waiting qrv keeps: with --no-wait give a share of time/,
    ],
    [['promote', 'q-1', '--migrate-to', '/dev/null', '--throttle', 'fast'], /--throttle fast: give a share of time/],
  ] as const) {
    const run = await qrv(home, [...args]);
    t.equal(run.exitCode, 2, args.join(' '));
    t.match(run.stderr, message);
  }
  const promoteUsage = await qrv(home, ['promote', 'q-1', '--no-wait']);
  t.equal(promoteUsage.exitCode, 2);
  t.match(promoteUsage.stderr, /--throttle and --no-wait go with --migrate-to/);
  const status = await qrvJson(home, ['recover', '--status']);
  t.equal(status.run.exitCode, 0);
  t.same((status.summary as { hydrations: unknown[] }).hydrations, [], 'nothing runs');
});

t.test(
  'while an instant recovery copies: its QRV is not updated or removed, the volume not promoted or removed',
  async (t) => {
    const dir = await tmpDir(t, 'qrv-instant-guard-');
    const v = await damaged(t, dir, dir, 4);
    const snap = await qrvJson(v.home, ['snap', 'vol']);
    const snapshotId = (snap.summary as { snapshot: { id: string } }).snapshot.id;
    // the row a dm/lvm instant recovery keeps while the kernel copies (the VM lane makes real ones)
    const file = path.join(v.home, 'catalog.json');
    const catalog = JSON.parse(await fs.readFile(file, 'utf8'));
    catalog.volumes[0].hydration = {
      job: 'j-1',
      qrv: v.qrvId,
      image: v.qrvPath,
      device: '/dev/mapper/qrv-vol',
      sizeBytes: 4 * MiB,
      dir: path.join(v.home, 'hydrate'),
      startedAt: new Date().toISOString(),
      attachedAt: new Date().toISOString(),
    };
    await fs.writeFile(file, JSON.stringify(catalog));
    for (const [args, what] of [
      [['copy', snapshotId, '--to', v.qrvPath], `cannot update QRV ${v.qrvId}`],
      [['remove', v.qrvId], `cannot remove QRV ${v.qrvId}`],
      [['promote', v.qrvId, '--force'], `cannot promote QRV ${v.qrvId}`],
      [['volume', 'remove', 'vol'], 'cannot remove volume vol'],
    ] as const) {
      const run = await qrv(v.home, [...args]);
      t.equal(run.exitCode, 4, args.join(' '));
      t.match(run.stderr, `${what}: volume vol is being recovered from ${v.qrvId} (instant recovery)`);
    }
    t.equal((await qrv(v.home, ['verify', v.qrvId])).exitCode, 0, 'the QRV is as it was');
  },
);

t.test('doctor: a COW store or region log that no volume records is a leftover, removed by --fix', async (t) => {
  const home = await tmpDir(t, 'qrv-instant-orphan-');
  t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'a home is made');
  const dir = path.join(home, 'hydrate');
  await fs.mkdir(dir, { mode: 0o700 });
  await fs.writeFile(path.join(dir, 'j-9.log'), '', { mode: 0o600 });
  await fs.writeFile(path.join(dir, 'other'), '', { mode: 0o600 });
  const found = await qrvJson(home, ['doctor']);
  t.match((found.summary as { findings: unknown[] }).findings, [{ kind: 'leftover', subject: 'j-9', fixed: false }]);
  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.match((fixed.summary as { findings: unknown[] }).findings, [{ kind: 'leftover', subject: 'j-9', fixed: true }]);
  t.same(await fs.readdir(dir), ['other'], 'the log is gone; what is not a helper stays');
});
