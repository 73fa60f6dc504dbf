// Run inside the VM lane (test/providers/lvm/lvm-provider.test.ts boots it): the shared provider
// contract against the lvm provider, on classic LVs and on thin LVs of a pool, on the VM's blank
// data disk. Prints TAP; bundled on the host and run with `node` as root (vmTapFile(),
// test/helpers/vm-bundle.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { lvmProvider } from '../../../src/providers/lvm/lvm-provider.ts';
import type { VolumeRef } from '../../../src/providers/provider.ts';
import { providerContract } from '../../helpers/provider-contract.ts';

// Under software emulation the whole run takes ≈ 40 s: more than tap's default 30 s.
t.setTimeout(400_000);

// Only ever inside the VM, on its blank data disk: never on a host's disks.
const disk = process.env.QRV_VM_DISK;
if (!disk || !process.env.QRV_VM_OUT) {
  console.log('1..0 # SKIP runs only inside the VM lane (test/providers/lvm/lvm-provider.test.ts boots it)');
  process.exit(0);
}
const lvm = (...args: string[]): string => execFileSync('lvm', args, { encoding: 'utf8' });
lvm('pvcreate', '-q', disk as string);
lvm('vgcreate', '-q', 'vgc', disk as string);
lvm('lvcreate', '-q', '-y', '-L', '256m', '-T', 'vgc/pool');

async function write(volume: VolumeRef, offset: number, data: Buffer): Promise<void> {
  const handle = await fs.open(volume.path, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

let n = 0;
async function makeVolume(thin: boolean): Promise<VolumeRef> {
  const name = `${thin ? 'thin' : 'lv'}${++n}`;
  if (thin) lvm('lvcreate', '-q', '-y', '-V', '16m', '-T', 'vgc/pool', '-n', name);
  else lvm('lvcreate', '-q', '-y', '-L', '16m', '-n', name, 'vgc');
  const path = `/dev/vgc/${name}`;
  const volume: VolumeRef = { name, provider: 'lvm', path, options: lvmProvider.defaultOptions(path, name) };
  await write(volume, 0, randomBytes(1024 * 1024));
  return volume;
}

t.test('classic LVs', async (t) => {
  providerContract(t as never, {
    provider: lvmProvider,
    makeVolume: () => makeVolume(false),
    write,
    expectRanges: true,
  });
});
t.test('thin LVs', async (t) => {
  providerContract(t as never, {
    provider: lvmProvider,
    makeVolume: () => makeVolume(true),
    write,
    expectRanges: true,
  });
});
t.test('changed ranges are exact to the chunk, and always release the metadata snapshot', async (t) => {
  const thin = await makeVolume(true);
  const a = await lvmProvider.createSnapshot(thin, 's-000000d1');
  await write(thin, 10 * 65536 + 100, randomBytes(10)); // one 64 KiB pool block
  const b = await lvmProvider.createSnapshot(thin, 's-000000d2');
  t.same(
    await lvmProvider.changedRanges?.(thin, a, b),
    [{ start: 10 * 65536, end: 11 * 65536 }],
    'thin: the one pool block written',
  );
  const status = execFileSync('dmsetup', ['status', 'vgc-pool-tpool'], { encoding: 'utf8' });
  t.match(status.split(' ')[6], /^-$/, `no metadata snapshot is left reserved (${status.trim()})`);
  const classic = await makeVolume(false);
  const c = await lvmProvider.createSnapshot(classic, 's-000000d3');
  await write(classic, 3 * 4096 + 7, randomBytes(5000)); // chunks 3 and 4 of 4 KiB
  const d = await lvmProvider.createSnapshot(classic, 's-000000d4');
  t.same(
    await lvmProvider.changedRanges?.(classic, c, d),
    [{ start: 3 * 4096, end: 5 * 4096 }],
    'classic: the two 4 KiB chunks written',
  );
  t.same(await lvmProvider.changedRanges?.(classic, a, d), null, 'a thin and a classic snapshot: cannot tell');
  for (const [volume, made] of [
    [thin, a],
    [thin, b],
    [classic, c],
    [classic, d],
  ] as const)
    await lvmProvider.removeSnapshot(volume, made.handle);
});
t.test('a classic snapshot whose COW store overflows is invalid, and never a source of ranges', async (t) => {
  const classic = await makeVolume(false);
  const small = { ...classic, options: { ...classic.options, cowPercent: '1' } }; // the 4 MiB minimum
  const a = await lvmProvider.createSnapshot(small, 's-000000e1');
  t.same(await lvmProvider.snapshotHealth?.(small, a), { invalid: false, usedPercent: 0 }, 'fresh: valid, empty');
  await write(small, 0, randomBytes(2 * 1024 * 1024));
  const half = await lvmProvider.snapshotHealth?.(small, a);
  t.ok(half && !half.invalid && (half.usedPercent ?? 0) > 40, `2 MiB written: ${half?.usedPercent} % used`);
  await write(small, 2 * 1024 * 1024, randomBytes(6 * 1024 * 1024));
  const full = await lvmProvider.snapshotHealth?.(small, a);
  t.equal(full?.invalid, true, `8 MiB written into a 4 MiB store: invalid (${JSON.stringify(full)})`);
  const b = await lvmProvider.createSnapshot(small, 's-000000e2');
  t.equal(await lvmProvider.changedRanges?.(small, a, b), null, 'no ranges from an invalid snapshot');
  t.same(
    (await lvmProvider.listSnapshots(small)).map((h) => h.snapshotId).sort(),
    ['s-000000e1', 's-000000e2'],
    'the invalid snapshot is still listed (removed by doctor --fix)',
  );
  await lvmProvider.removeSnapshot(small, a.handle);
  await lvmProvider.removeSnapshot(small, b.handle);
});
t.test('discover lists the LVs that can be volumes', async (t) => {
  const found = await lvmProvider.discover?.();
  const names = (found ?? []).map((v) => v.path);
  t.ok(
    names.some((p) => /^\/dev\/vgc\/lv\d+$/.test(p)) && names.some((p) => /^\/dev\/vgc\/thin\d+$/.test(p)),
    'classic and thin LVs',
  );
  t.notOk(
    names.some((p) => /pool|_qrv_|\[/.test(p)),
    `no pool, snapshot or hidden LV (${names.join(' ')})`,
  );
});
t.test('methods and refusals', async (t) => {
  const classic = await makeVolume(false);
  const made = await lvmProvider.createSnapshot(classic, 's-000000c1');
  t.equal(made.method, 'lvm-classic');
  t.equal(made.path, `/dev/vgc/${classic.name}_qrv_s-000000c1`);
  const tags = lvm('lvs', '--noheadings', '-o', 'lv_tags', made.handle).trim();
  t.equal(tags, 'qrv,qrv-snapshot:s-000000c1', "tagged as qrv's");
  await t.rejects(
    lvmProvider.removeSnapshot(classic, 'vgc/pool'),
    { code: 'foreign-handle' },
    'never removes what qrv did not make',
  );
  await lvmProvider.removeSnapshot(classic, made.handle);
  const thin = await makeVolume(true);
  const thinMade = await lvmProvider.createSnapshot(thin, 's-000000c2');
  t.equal(thinMade.method, 'lvm-thin');
  t.equal((await fs.stat(thinMade.path)).isBlockDevice(), true, 'the thin snapshot is active, readable');
  await lvmProvider.removeSnapshot(thin, thinMade.handle);
  await t.rejects(
    lvmProvider.inspect({ ...classic, path: '/dev/vgc/pool' }),
    { code: 'not-an-lv' },
    'a thin pool is not a volume',
  );
  // A classic snapshot needs free extents: an LV as big as the rest of the VG leaves none.
  const free = lvm('vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', 'vgc').trim();
  lvm('lvcreate', '-q', '-y', '-L', `${free}b`, '-n', 'filler', 'vgc');
  await t.rejects(
    lvmProvider.createSnapshot(classic, 's-000000c3'),
    { code: 'vg-full', exit: 'refused' },
    'no room: refused, with a reason',
  );
  t.same(await lvmProvider.listSnapshots(classic), [], 'and nothing left half made');
});
