import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileProvider } from '../../../src/providers/file/file-provider.ts';
import type { VolumeRef } from '../../../src/providers/provider.ts';
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
