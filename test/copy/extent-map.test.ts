import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { dataRanges, isHole, parseFilefrag } from '../../src/copy/extent-map.ts';
import { copyImage, checksumImage } from '../../src/copy/block-copy.ts';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const fixture = (name: string) => fs.readFile(path.join(ROOT, 'fixtures', 'filefrag', name), 'utf8');

t.test('parses real filefrag -v -b1 output (ext4 delalloc and written, XFS reflink, all holes)', async (t) => {
  const islands = [
    { start: 10485760, end: 12582912 },
    { start: 32768000, end: 32833536 },
  ];
  t.same(parseFilefrag(await fixture('ext4-delalloc-two-islands.txt')), islands, 'delayed allocation still has its logical range');
  t.same(parseFilefrag(await fixture('ext4-synced-two-islands.txt')), islands);
  t.same(parseFilefrag(await fixture('ext4-all-hole.txt')), [], 'no extents: all hole');
  t.same(parseFilefrag(await fixture('xfs-reflink-partly-rewritten.txt')), [{ start: 3145728, end: 4194304 }], 'adjacent extents merge');
  t.same(parseFilefrag(await fixture('xfs-reflink-shared.txt')), [{ start: 3145728, end: 4194304 }]);
  t.equal(parseFilefrag('filefrag: Operation not supported\n'), null, 'not understood: null (read everything)');
  t.equal(parseFilefrag('File size of x is 10 (10 blocks of 1 bytes)\n'), null, 'no summary line: null');
});

t.test('isHole', async (t) => {
  const r = [{ start: 100, end: 200 }, { start: 500, end: 600 }];
  t.ok(isHole(r, 0, 100));
  t.notOk(isHole(r, 0, 101));
  t.ok(isHole(r, 200, 500));
  t.notOk(isHole(r, 199, 300));
  t.notOk(isHole(r, 550, 560));
  t.ok(isHole(r, 600, 10_000));
  t.ok(isHole([], 0, 1));
});

t.test('a sparse source is copied exactly while its holes are skipped', async (t) => {
  const dir = await tmpDir(t);
  const source = path.join(dir, 'src.img');
  const size = 64 * 1024 * 1024 + 12345;
  const handle = await fs.open(source, 'w');
  await handle.truncate(size);
  for (const at of [0, 5 * 1024 * 1024 + 7, 40 * 1024 * 1024, size - 1000]) await handle.write(randomBytes(1000), 0, 1000, at);
  await handle.close();
  const ranges = await dataRanges(source);
  t.ok(ranges && ranges.length >= 1 && ranges.length <= 4, `filefrag found the islands: ${JSON.stringify(ranges)}`);
  const dest = path.join(dir, 'dst.img');
  const result = await copyImage({ source, destination: dest, sizeBytes: size, destinationKind: 'file' });
  t.same(await fs.readFile(dest), await fs.readFile(source), 'byte for byte');
  t.equal(await checksumImage(dest, size), result.checksum);
});
