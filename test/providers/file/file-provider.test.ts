import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileProvider } from '../../../src/providers/file/file-provider.ts';
import type { SnapshotMade, SnapshotRef, VolumeRef } from '../../../src/providers/provider.ts';
import type { ByteRange } from '../../../src/core/byte-range.ts';
import { providerContract } from '../../helpers/provider-contract.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { lane } from '../../helpers/lanes.ts';
import { mountLoopFs } from '../../helpers/loop-fs.ts';

const MiB = 1024 * 1024;

/** A volume image of sizeMiB with random data in its first `dataMiB`, the rest a hole. */
async function imageVolume(dir: string, name: string, sizeMiB = 16, dataMiB = 2): Promise<VolumeRef> {
  const file = path.join(dir, `${name}.img`);
  const handle = await fs.open(file, 'w');
  await handle.truncate(sizeMiB * MiB);
  await handle.write(randomBytes(dataMiB * MiB), 0, dataMiB * MiB, 0);
  // Flushed, as a volume at rest is: FICLONE first writes back dirty pages (≈ 1.1 s for 512 MiB
  // here), which is the flush a freeze also pays, not the clone.
  await handle.datasync();
  await handle.close();
  return { name, provider: 'file', path: file, options: fileProvider.defaultOptions(file, name) };
}

async function write(volume: VolumeRef, offset: number, data: Buffer): Promise<void> {
  const handle = await fs.open(volume.path, 'r+');
  await handle.write(data, 0, data.length, offset);
  await handle.close();
}

function contractOn(t: Test, dirOf: () => Promise<string>): void {
  let n = 0;
  providerContract(t as never, {
    provider: fileProvider,
    makeVolume: async () => imageVolume(await dirOf(), `vol${++n}`),
    write,
  });
}

t.test('contract on the temporary folder filesystem', async (t) => {
  const dir = await tmpDir(t);
  contractOn(t, async () => dir);
});

t.test('without reflink support the snapshot is a sparse copy, read-only, in .qrv-snapshots', async (t) => {
  const dir = await tmpDir(t);
  const volume = await imageVolume(dir, 'sparse', 64, 1);
  const made = await fileProvider.createSnapshot(volume, 's-000000aa');
  t.equal(path.dirname(made.path), path.join(dir, '.qrv-snapshots'));
  const st = await fs.stat(made.path);
  t.equal(st.mode & 0o222, 0, 'no write permission bits');
  t.equal(st.size, 64 * MiB);
  if (made.method === 'sparse-copy') {
    t.ok(st.blocks * 512 < 8 * MiB, `sparse: ${st.blocks * 512} bytes allocated of 64 MiB`);
  } else {
    t.equal(made.method, 'reflink', 'the only other method is reflink');
  }
  t.same(await fs.readFile(made.path), await fs.readFile(volume.path), 'same bytes as the volume');
});

t.test('remove refuses a handle outside the volume snapshot store', async (t) => {
  const dir = await tmpDir(t);
  const volume = await imageVolume(dir, 'guard');
  const victim = path.join(dir, 'important.txt');
  await fs.writeFile(victim, 'keep me');
  await t.rejects(fileProvider.removeSnapshot(volume, victim), { code: 'foreign-handle' });
  t.equal(await fs.readFile(victim, 'utf8'), 'keep me');
});

t.test('host lane: XFS with reflink (root)', async (t) => {
  if (!lane(t, 'XFS reflink', { root: true, tools: ['mkfs.xfs', 'losetup', 'mount'] })) return;
  const dir = await tmpDir(t);
  const { mountpoint } = await mountLoopFs(t, dir, 'xfs', 2048);
  contractOn(t, async () => mountpoint);

  t.test('a reflink snapshot takes constant time whatever the size', async (t) => {
    const small = await imageVolume(mountpoint, 'small', 16, 16);
    const large = await imageVolume(mountpoint, 'large', 512, 512);
    const a = await fileProvider.createSnapshot(small, 's-000000b1');
    const b = await fileProvider.createSnapshot(large, 's-000000b2');
    t.equal(a.method, 'reflink');
    t.equal(b.method, 'reflink');
    t.ok(b.suspendedMs < 200, `512 MiB fully written cloned in ${b.suspendedMs.toFixed(2)} ms`);
    t.comment(`clone of 16 MiB: ${a.suspendedMs.toFixed(2)} ms, of 512 MiB: ${b.suspendedMs.toFixed(2)} ms`);
    t.same(await fs.readFile(b.path), await fs.readFile(large.path));
  });
});

const refOf = (made: SnapshotMade): SnapshotRef => ({
  handle: made.handle,
  path: made.path,
  method: made.method,
  sizeBytes: made.sizeBytes,
});

t.test('changedRanges answers null unless both snapshots are reflink clones', async (t) => {
  const dir = await tmpDir(t);
  const volume = await imageVolume(dir, 'delta0', 16, 4);
  const a = refOf(await fileProvider.createSnapshot(volume, 's-000000c1'));
  await write(volume, 4096, randomBytes(4096));
  const b = refOf(await fileProvider.createSnapshot(volume, 's-000000c2'));
  const changedRanges = fileProvider.changedRanges?.bind(fileProvider);
  if (!changedRanges) return t.fail('the file provider has changedRanges');
  if (a.method === 'sparse-copy')
    t.equal(await changedRanges(volume, a, b), null, 'two sparse copies (this filesystem has no reflink)');
  for (const [from, to] of [
    [
      { ...a, method: 'sparse-copy' },
      { ...b, method: 'reflink' },
    ],
    [
      { ...a, method: 'reflink' },
      { ...b, method: 'sparse-copy' },
    ],
    [
      { ...a, method: 'lvm-thin' },
      { ...b, method: 'lvm-thin' },
    ],
  ] as const) {
    t.equal(await changedRanges(volume, from, to), null, `${from.method} → ${to.method}`);
  }
  const missing = { ...b, method: 'reflink', path: `${b.path}.gone`, handle: `${b.path}.gone` };
  t.equal(await changedRanges(volume, { ...a, method: 'reflink' }, missing), null, 'a snapshot file that is gone');
});

/** Whether every byte of `to` that differs from `from` (or lies past its end) is inside the ranges; the count of differing bytes. */
async function coveredBy(
  ranges: ByteRange[],
  from: string,
  to: string,
): Promise<{ differing: number; outside: number }> {
  const [a, b] = await Promise.all([fs.readFile(from), fs.readFile(to)]);
  let differing = 0;
  let outside = 0;
  let r = 0;
  for (let i = 0; i < b.length; i++) {
    if (i < a.length && a[i] === b[i]) continue;
    differing++;
    while (r < ranges.length && (ranges[r] as ByteRange).end <= i) r++;
    const range = ranges[r];
    if (!range || range.start > i) outside++;
  }
  return { differing, outside };
}

t.test('host lane: what changed between two reflink snapshots, from their extent maps (XFS, root)', async (t) => {
  if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'filefrag', 'losetup', 'mount'] })) return;
  const dir = await tmpDir(t);
  const { mountpoint } = await mountLoopFs(t, dir, 'xfs', 512);
  const seed = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);
  let state = seed;
  const next = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 4294967296) * n);
  };

  // 40 MiB + 1234 bytes: random data except a hole in [24 MiB, 32 MiB); the last block is partial.
  const volume = await imageVolume(mountpoint, 'delta', 40, 24);
  const sizeA = 40 * MiB + 1234;
  await write(volume, 32 * MiB, randomBytes(8 * MiB + 1234));
  const a = await fileProvider.createSnapshot(volume, 's-000000d1');
  t.equal(a.method, 'reflink');

  const touched = new Set<number>();
  const writeAt = async (offset: number, length: number): Promise<void> => {
    await write(volume, offset, randomBytes(length));
    for (let block = Math.floor(offset / 4096); block * 4096 < offset + length; block++) touched.add(block);
  };
  for (let i = 0; i < 12; i++) await writeAt(next(sizeA / (64 * 1024)) * 64 * 1024, 64 * 1024);
  for (let i = 0; i < 24; i++) {
    // within A's size: a write past its end would grow the file (seed 230733 did, by 11347 bytes)
    const offset = next(sizeA - 1);
    await writeAt(offset, 1 + next(Math.min(20_000, sizeA - offset)));
  }
  await writeAt(0, 1);
  await writeAt(24 * MiB + 12_345, 3); // into the hole
  await writeAt(sizeA - 1, 1);
  await writeAt(sizeA + 777, 5000); // growth, leaving a gap past the old end
  for (let block = Math.floor(sizeA / 4096); block * 4096 < sizeA + 777; block++) touched.add(block); // the gap reads as zeros: new bytes

  const b = await fileProvider.createSnapshot(volume, 's-000000d2');
  t.equal(b.method, 'reflink');
  t.equal(b.sizeBytes, sizeA + 777 + 5000);

  const started = process.hrtime.bigint();
  const ranges = await fileProvider.changedRanges?.(volume, refOf(a), refOf(b));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (!ranges) return t.fail('reflink snapshots on XFS: an answer, not null');
  t.ok(
    ranges.every(
      (r, i) => r.start < r.end && r.end <= b.sizeBytes && (i === 0 || (ranges[i - 1] as ByteRange).end < r.start),
    ),
    'sorted, merged, within the size of B',
  );
  const { differing, outside } = await coveredBy(ranges, a.path, b.path);
  t.equal(outside, 0, `every one of the ${differing} differing bytes is inside the ranges`);
  const total = ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  const bound = touched.size * 4096 + 64 * 1024;
  t.ok(total <= bound, `ranges total ${total} bytes ≤ ${touched.size} touched blocks × 4096 + 64 KiB = ${bound}`);
  t.comment(
    `${ranges.length} ranges, ${total} bytes, ${touched.size} touched 4 KiB blocks (${touched.size * 4096} bytes); answered in ${ms.toFixed(1)} ms`,
  );

  t.same(await fileProvider.changedRanges?.(volume, refOf(a), refOf(a)), [], 'a snapshot against itself: nothing');
  t.equal(
    await fileProvider.changedRanges?.(volume, { ...refOf(a), method: 'sparse-copy' }, refOf(b)),
    null,
    'from is not a reflink clone',
  );
  t.equal(
    await fileProvider.changedRanges?.(volume, refOf(a), { ...refOf(b), method: 'sparse-copy' }),
    null,
    'to is not a reflink clone',
  );
  t.equal(
    await fileProvider.changedRanges?.(volume, refOf(a), { ...refOf(b), sizeBytes: b.sizeBytes - 1 }),
    null,
    'a size other than recorded',
  );
});
