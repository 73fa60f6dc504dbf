// The persistent exception store reader, on stores laid out byte for byte as the kernel writes
// them (dm-snap-persistent.c); a store written by a real kernel is read in the VM lane
// (test/vm/lane/vm-lvm-contract.ts, through the lvm provider's changedRanges).
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import {
  chunkRanges,
  parseHeader,
  readExceptionStore,
  SNAP_MAGIC,
  unitedStoreRanges,
} from '../../../src/providers/cow/exception-store.ts';
import { tmpDir } from '../../helpers/tmp.ts';

/** A store of `chunkSectors`-sector chunks listing `exceptions` (old chunk → new chunk), areas filled in order. */
function store(chunkSectors: number, exceptions: Array<[number, number]>, valid = true): Buffer {
  const chunk = chunkSectors * 512;
  const perArea = chunk / 16;
  const areas = Math.floor(exceptions.length / perArea) + 1;
  const buffer = Buffer.alloc((1 + areas * (perArea + 1)) * chunk);
  buffer.writeUInt32LE(SNAP_MAGIC, 0);
  buffer.writeUInt32LE(valid ? 1 : 0, 4);
  buffer.writeUInt32LE(1, 8);
  buffer.writeUInt32LE(chunkSectors, 12);
  exceptions.forEach(([oldChunk, newChunk], i) => {
    const area = Math.floor(i / perArea);
    const at = (1 + area * (perArea + 1)) * chunk + (i % perArea) * 16;
    buffer.writeBigUInt64LE(BigInt(oldChunk), at);
    buffer.writeBigUInt64LE(BigInt(newChunk), at + 8);
  });
  return buffer;
}

t.test('reads the exceptions of one area', async (t) => {
  const file = path.join(await tmpDir(t), 'cow');
  await fs.writeFile(
    file,
    store(8, [
      [7, 2],
      [3, 3],
      [9, 4],
    ]),
  );
  t.same(await readExceptionStore(file), { valid: true, chunkBytes: 4096, chunks: [3, 7, 9] });
});

t.test("follows the list into the next metadata areas, past each area's data chunks", async (t) => {
  const file = path.join(await tmpDir(t), 'cow');
  // 1-sector chunks: 32 exceptions per area; 70 exceptions fill two areas and start a third.
  const exceptions: Array<[number, number]> = Array.from({ length: 70 }, (_, i) => [1000 + i * 2, 2 + i]);
  const bytes = store(1, exceptions);
  // Data chunks hold copied data, which must not be read as exceptions: fill them with noise.
  for (let area = 0; area < 3; area++) {
    const first = (1 + area * 33 + 1) * 512;
    bytes.fill(0xa5, first, first + 32 * 512);
  }
  await fs.writeFile(file, bytes);
  const read = await readExceptionStore(file);
  t.equal(read.chunks.length, 70);
  t.same(
    read.chunks,
    exceptions.map(([old]) => old),
  );
});

t.test('an empty store, an invalid one, and what is not a store', async (t) => {
  const dir = await tmpDir(t);
  await fs.writeFile(path.join(dir, 'empty'), store(8, []));
  t.same(await readExceptionStore(path.join(dir, 'empty')), { valid: true, chunkBytes: 4096, chunks: [] });
  await fs.writeFile(path.join(dir, 'invalid'), store(8, [[1, 2]], false));
  t.same(
    await readExceptionStore(path.join(dir, 'invalid')),
    { valid: false, chunkBytes: 4096, chunks: [] },
    'an overflowed store: nothing to trust',
  );
  await fs.writeFile(path.join(dir, 'zeros'), Buffer.alloc(65536));
  await t.rejects(readExceptionStore(path.join(dir, 'zeros')), { code: 'not-an-exception-store' });
  await t.rejects(readExceptionStore(path.join(dir, 'missing')), { code: 'cow-unreadable' });
  const odd = store(8, []);
  odd.writeUInt32LE(12, 12);
  t.equal(parseHeader(odd), null, 'a chunk size that is not a power of two');
});

t.test('a store cut short ends the list where the device ends', async (t) => {
  const file = path.join(await tmpDir(t), 'cow');
  const exceptions: Array<[number, number]> = Array.from({ length: 40 }, (_, i) => [i, 2 + i]);
  await fs.writeFile(file, store(1, exceptions).subarray(0, (1 + 33) * 512 + 100));
  t.same(
    (await readExceptionStore(file)).chunks,
    exceptions.slice(0, 32).map(([old]) => old),
    'the first area only',
  );
});

t.test('chunkRanges: chunks to merged byte ranges, clipped', async (t) => {
  t.same(chunkRanges([5, 1, 2, 9], 4096, 1 << 20), [
    { start: 4096, end: 3 * 4096 },
    { start: 5 * 4096, end: 6 * 4096 },
    { start: 9 * 4096, end: 10 * 4096 },
  ]);
  t.same(
    chunkRanges([3, 4], 4096, 4 * 4096 + 10),
    [{ start: 3 * 4096, end: 4 * 4096 + 10 }],
    'the last chunk clipped to the size',
  );
  t.same(chunkRanges([100], 4096, 4096), [], 'past the end');
});

t.test('unitedStoreRanges: the union of two stores, either order; null when one overflowed', async (t) => {
  const dir = await tmpDir(t);
  const [older, newer, invalid] = ['older', 'newer', 'invalid'].map((name) => path.join(dir, name)) as [
    string,
    string,
    string,
  ];
  await fs.writeFile(
    older,
    store(8, [
      [1, 2],
      [5, 3],
    ]),
  );
  await fs.writeFile(newer, store(8, [[2, 2]]));
  await fs.writeFile(invalid, store(8, [[9, 2]], false));
  const expected = [
    { start: 4096, end: 3 * 4096 },
    { start: 5 * 4096, end: 6 * 4096 },
  ];
  t.same(await unitedStoreRanges([older, newer], 1 << 20), expected);
  t.same(await unitedStoreRanges([newer, older], 1 << 20), expected, 'the order does not matter');
  t.equal(await unitedStoreRanges([older, invalid], 1 << 20), null);
});
