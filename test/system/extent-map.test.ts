import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  changedRanges,
  dataRanges,
  fileExtents,
  parseFilefrag,
  parseFilefragExtents,
  type Extent,
  type ExtentMap,
} from '../../src/system/extent-map.ts';
import { isHole, type ByteRange } from '../../src/core/byte-range.ts';
import { copyImage, checksumImage } from '../../src/copy/block-copy.ts';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const fixture = (name: string) => fs.readFile(path.join(ROOT, 'fixtures', 'filefrag', name), 'utf8');

t.test('parses real filefrag -v -b1 output (ext4 delalloc and written, XFS reflink, all holes)', async (t) => {
  const islands = [
    { start: 10485760, end: 12582912 },
    { start: 32768000, end: 32833536 },
  ];
  t.same(
    parseFilefrag(await fixture('ext4-delalloc-two-islands.txt')),
    islands,
    'delayed allocation still has its logical range',
  );
  t.same(parseFilefrag(await fixture('ext4-synced-two-islands.txt')), islands);
  t.same(parseFilefrag(await fixture('ext4-all-hole.txt')), [], 'no extents: all hole');
  t.same(
    parseFilefrag(await fixture('xfs-reflink-partly-rewritten.txt')),
    [{ start: 3145728, end: 4194304 }],
    'adjacent extents merge',
  );
  t.same(parseFilefrag(await fixture('xfs-reflink-shared.txt')), [{ start: 3145728, end: 4194304 }]);
  t.equal(parseFilefrag('filefrag: Operation not supported\n'), null, 'not understood: null (read everything)');
  t.equal(parseFilefrag('File size of x is 10 (10 blocks of 1 bytes)\n'), null, 'no summary line: null');
});

t.test('isHole', async (t) => {
  const r = [
    { start: 100, end: 200 },
    { start: 500, end: 600 },
  ];
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
  for (const at of [0, 5 * 1024 * 1024 + 7, 40 * 1024 * 1024, size - 1000])
    await handle.write(randomBytes(1000), 0, 1000, at);
  await handle.close();
  const ranges = await dataRanges(source);
  t.ok(ranges && ranges.length >= 1 && ranges.length <= 4, `filefrag found the islands: ${JSON.stringify(ranges)}`);
  const dest = path.join(dir, 'dst.img');
  const result = await copyImage({ source, destination: dest, sizeBytes: size, destinationKind: 'file' });
  t.same(await fs.readFile(dest), await fs.readFile(source), 'byte for byte');
  t.equal(await checksumImage(dest, size), result.checksum);
});

// --- extent maps with physical offsets, and what changed between two clones --------------------

const KiB = 1024;
const mapOf = async (name: string): Promise<ExtentMap> => {
  const map = parseFilefragExtents(await fixture(name));
  if (!map) throw new Error(`${name}: not understood`);
  return map;
};
const ext = (logical: number, physical: number, length: number, ...flags: string[]): Extent => ({
  logical,
  physical,
  length,
  flags,
});

t.test('parseFilefragExtents reads real output: offsets, lengths, flags, a blank expected column', async (t) => {
  const b = await mapOf('xfs-pair-scattered/b.txt');
  t.equal(b.sizeBytes, 4 * 1024 * KiB + 1234);
  t.equal(b.extents.length, 9);
  t.same(b.extents[0], ext(0, 1146880, 8192, 'shared'), 'first extent, no expected column');
  t.same(b.extents[1], ext(8192, 106496, 188416, 'shared'), 'with an expected column');
  t.same(b.extents[8], ext(4194304, 4296704, 4096, 'last', 'shared', 'eof'), 'the last block, past the size');
  const a = await mapOf('xfs-pair-scattered/a.txt');
  t.same(a.extents[0], ext(0, 98304, 8192), 'neither expected nor flags: only blanks after the length');

  const delalloc = await mapOf('ext4-delalloc-two-islands.txt');
  t.same(
    delalloc.extents,
    [ext(10485760, 0, 2097152, 'unknown_loc', 'delalloc'), ext(32768000, 0, 65536, 'last', 'unknown_loc', 'delalloc')],
    'length from the logical range: filefrag prints 0 for unknown_loc',
  );
  t.same((await mapOf('xfs-prealloc-unwritten.txt')).extents[1], ext(1048576, 403800064, 524288, 'unwritten'));
  t.same(
    await mapOf('btrfs-inline.txt'),
    { sizeBytes: 780, extents: [ext(0, 0, 4096, 'last', 'encoded', 'not_aligned', 'inline', 'eof')] },
    '"4096 block of 1 bytes", inline data',
  );
  t.same(
    (await mapOf('btrfs-compressed.txt')).extents.map((e) => e.flags),
    [['encoded'], ['encoded'], ['last', 'eof']],
  );
  t.same(await mapOf('ext4-all-hole.txt'), { sizeBytes: 8388608, extents: [] });

  for (const name of [
    'ext4-all-hole.txt',
    'ext4-delalloc-two-islands.txt',
    'ext4-synced-two-islands.txt',
    'xfs-reflink-shared.txt',
    'xfs-reflink-partly-rewritten.txt',
    'xfs-prealloc-unwritten.txt',
    'btrfs-compressed.txt',
    'btrfs-inline.txt',
    'xfs-pair-punch/a.txt',
    'xfs-pair-punch/b.txt',
  ]) {
    const logical = merge((await mapOf(name)).extents.map((e) => ({ start: e.logical, end: e.logical + e.length })));
    t.same(logical, parseFilefrag(await fixture(name)), `${name}: the same logical ranges as parseFilefrag`);
  }
});

t.test('parseFilefragExtents answers null for output it does not understand', async (t) => {
  const good = await fixture('xfs-pair-growth/b.txt');
  t.ok(parseFilefragExtents(good));
  t.equal(parseFilefragExtents(''), null);
  t.equal(parseFilefragExtents('filefrag: Operation not supported\n'), null);
  t.equal(parseFilefragExtents(good.replace(/^b\.img: .*$/m, '')), null, 'no summary line');
  t.equal(parseFilefragExtents(good.replace(/^File size.*$/m, '')), null, 'no size line');
  t.equal(parseFilefragExtents(good.replace('blocks of 1 bytes', 'blocks of 4096 bytes')), null, 'another block size');
  t.equal(parseFilefragExtents(good.replace(/^ ext:.*$/m, '')), null, 'no column header');
  const fibmap =
    'Filesystem type is: ef53\nFile size of v.img is 1048576 (1048576 blocks of 1 bytes)\nv.img: 1 extent found\n';
  t.equal(parseFilefragExtents(fibmap), null, 'the FIBMAP fallback lists no extents: not "all hole"');
  t.equal(parseFilefrag(fibmap), null, 'data ranges from the FIBMAP fallback are unknown, never "all hole"');
  t.equal(
    parseFilefragExtents(good.replace(/^ ext:.*$/m, (h) => `${h}\nDiscontinuity: Block 3 is at 100 (was 4)`)),
    null,
    'FIBMAP discontinuities',
  );
  const lines = good.split('\n');
  const swapped = [...lines.slice(0, 3), lines[4], lines[3], ...lines.slice(5)].join('\n');
  t.equal(parseFilefragExtents(swapped), null, 'extents out of order');
  t.equal(
    parseFilefragExtents(
      good.replace('4194304.. 4206591', '4194304.. 4194303').replace('1572864.. 4194303', '1572864.. 4194400'),
    ),
    null,
    'overlapping extents',
  );
  t.equal(
    parseFilefragExtents(good.replace('1572864.. 4194303', '1572864..    1000')),
    null,
    'an end before its start',
  );
  t.equal(parseFilefragExtents(`${good}${good}`), null, 'two files');
  t.equal(parseFilefragExtents(good.replace('shared,eof', 'shared: eof')), null, 'a line that does not parse');
});

t.test('changedRanges on real pairs of XFS reflink clones is exactly what was written', async (t) => {
  for (const name of ['scattered', 'punch', 'growth', 'prealloc']) {
    const a = await mapOf(`xfs-pair-${name}/a.txt`);
    const b = await mapOf(`xfs-pair-${name}/b.txt`);
    const expected = JSON.parse(await fixture(`xfs-pair-${name}/expected.json`)) as {
      sizeBytes: { a: number; b: number };
      changed: ByteRange[];
    };
    t.same([a.sizeBytes, b.sizeBytes], [expected.sizeBytes.a, expected.sizeBytes.b], `${name}: sizes`);
    t.same(changedRanges(a, b), expected.changed, `${name}: ${JSON.stringify(expected.changed)}`);
    t.same(changedRanges(a, a), [], `${name}: A against itself`);
    t.same(changedRanges(b, b), [], `${name}: B against itself`);
  }
  t.same(
    changedRanges(await mapOf('xfs-reflink-shared.txt'), await mapOf('xfs-reflink-partly-rewritten.txt')),
    [{ start: 3276800, end: 3342336 }],
    'the 64 KiB rewritten in the older pair',
  );
  const delalloc = await mapOf('ext4-delalloc-two-islands.txt');
  t.same(
    changedRanges(delalloc, delalloc),
    [
      { start: 10485760, end: 12582912 },
      { start: 32768000, end: 32833536 },
    ],
    'delayed allocation: no location, so changed even against itself',
  );
  const inline = await mapOf('btrfs-inline.txt');
  t.same(changedRanges(inline, inline), [{ start: 0, end: 780 }], 'inline data: changed, cut at the size');
});

t.test('changedRanges on hand-built maps', async (t) => {
  const size = 1024 * KiB;
  const map = (extents: Extent[], sizeBytes = size): ExtentMap => ({ sizeBytes, extents });
  const base = [ext(0, 1_000_000, 256 * KiB), ext(512 * KiB, 9_000_000, 512 * KiB, 'last')];

  t.same(changedRanges(map(base), map(base)), [], 'identical maps');
  t.same(changedRanges(map([]), map([])), [], 'all hole on both sides');
  t.same(
    changedRanges(map(base), map([ext(0, 1_000_000, 256 * KiB), ext(512 * KiB, 9_000_000 + 4096, 512 * KiB)])),
    [{ start: 512 * KiB, end: size }],
    'physical shifted: the whole extent',
  );
  t.same(
    changedRanges(map(base), map([ext(0, 1_000_000, 256 * KiB)])),
    [{ start: 512 * KiB, end: size }],
    'data in A, hole in B (punched)',
  );
  t.same(
    changedRanges(map([ext(0, 1_000_000, 256 * KiB)]), map(base)),
    [{ start: 512 * KiB, end: size }],
    'hole in A, data in B (written)',
  );
  t.same(
    changedRanges(
      map(base),
      map([
        ext(0, 1_000_000, 100_000, 'shared'),
        ext(100_000, 1_100_000, 162_144, 'merged', 'shared'),
        ext(512 * KiB, 9_000_000, 512 * KiB, 'last', 'shared', 'eof'),
      ]),
    ),
    [],
    'split differently, same mapping; shared, merged, last, eof say nothing about the data',
  );
  t.same(
    changedRanges(
      map([ext(0, 1_000_000, 10_001)]),
      map([ext(0, 1_000_000, 3333), ext(3333, 77_777, 4444), ext(7777, 1_007_777, 2224)]),
    ),
    [{ start: 3333, end: 7777 }],
    'boundaries at odd offsets',
  );
  t.same(
    changedRanges(map([ext(0, 1_000_000, 5000), ext(5000, 3_000_000, 5001)]), map([ext(1234, 1_001_234, 6000)])),
    [
      { start: 0, end: 1234 },
      { start: 5000, end: 10_001 },
    ],
    'overlapping boundaries that do not line up',
  );
  t.same(changedRanges(map([base[1] as Extent, base[0] as Extent]), map(base)), [], 'extents in any order');

  for (const flag of [
    'unknown_loc',
    'delalloc',
    'inline',
    'data_inline',
    'encoded',
    'not_aligned',
    'tail_packed',
    'encrypted',
    '0x1000',
  ]) {
    const flagged = [ext(0, 1_000_000, 256 * KiB), ext(512 * KiB, 9_000_000, 512 * KiB, flag)];
    t.same(changedRanges(map(base), map(flagged)), [{ start: 512 * KiB, end: size }], `${flag} in B: changed`);
    t.same(changedRanges(map(flagged), map(base)), [{ start: 512 * KiB, end: size }], `${flag} in A: changed`);
  }
  const unwritten = [ext(0, 1_000_000, 256 * KiB, 'unwritten'), ext(512 * KiB, 9_000_000, 512 * KiB)];
  t.same(changedRanges(map(unwritten), map(unwritten)), [], 'unwritten on both sides at the same place');
  t.same(changedRanges(map(base), map(unwritten)), [{ start: 0, end: 256 * KiB }], 'unwritten in B only');
  t.same(changedRanges(map(unwritten), map(base)), [{ start: 0, end: 256 * KiB }], 'unwritten in A only');

  t.same(
    changedRanges(map(base), map(base, size + 5000)),
    [{ start: size, end: size + 5000 }],
    'growth past the last extent',
  );
  t.same(
    changedRanges(map(base, size - 100), map(base, size)),
    [{ start: size - 100, end: size }],
    'growth inside the last block',
  );
  t.same(
    changedRanges(map(base, 1000), map([ext(0, 1_000_000, 4096), ext(4096, 55_555, 8192)], 10_000)),
    [{ start: 1000, end: 10_000 }],
    'growth merges with a changed block',
  );
  t.same(
    changedRanges(map(base), map([ext(0, 1_000_000, 200 * KiB)], 200 * KiB)),
    [],
    'shrink: only what B still has counts',
  );
  t.same(
    changedRanges(map(base), map([ext(0, 1_000_000, 4096), ext(4096, 7, 4096)], 5000)),
    [{ start: 4096, end: 5000 }],
    "shrink, cut at B's size",
  );
  t.same(
    changedRanges(map([ext(0, 1_000_000, 8192)], 5000), map([ext(0, 1_000_000, 4096), ext(4096, 4, 4096)], 5000)),
    [{ start: 4096, end: 5000 }],
    'mapping past the size is cut',
  );
  t.same(
    changedRanges(map([ext(0, 1_000_000, 8192), ext(4096, 1_004_096, 8192)]), map([ext(0, 1_000_000, 12288)])),
    [{ start: 4096, end: 8192 }],
    'overlapping extents in one map: changed where they overlap',
  );
  t.same(
    changedRanges(map([]), map([ext(0, 5, 0), ext(10, 0, 4096, 'last')], 1000)),
    [{ start: 10, end: 1000 }],
    'empty extents are ignored',
  );

  const tib = 4 * 1024 ** 4;
  const started = process.hrtime.bigint();
  const ranges = changedRanges(
    map([ext(0, 8 * KiB, tib)], tib),
    map(
      [
        ext(0, 8 * KiB, tib / 2),
        ext(tib / 2, 99 * 1024 ** 3, 4096),
        ext(tib / 2 + 4096, 8 * KiB + tib / 2 + 4096, tib / 2 - 4096),
      ],
      tib + 1,
    ),
  );
  t.same(
    ranges,
    [
      { start: tib / 2, end: tib / 2 + 4096 },
      { start: tib, end: tib + 1 },
    ],
    '4 TiB: one block and the growth',
  );
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 50, 'in no time: never per byte');
});

/** A small deterministic generator, so that a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function merge(ranges: ByteRange[]): ByteRange[] {
  const merged: ByteRange[] = [];
  for (const range of [...ranges].sort((x, y) => x.start - y.start)) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else if (range.end > range.start) merged.push({ ...range });
  }
  return merged;
}

/** Per 4 KiB block: a physical block number, or null for a hole; `unwritten` per block. */
interface Layout {
  sizeBytes: number;
  blocks: (number | null)[];
  unwritten: boolean[];
}

/** The extent list a filesystem could report for a layout: runs of contiguous blocks, split at random. */
function extentsOf(layout: Layout, next: () => number): Extent[] {
  const extents: Extent[] = [];
  for (let i = 0; i < layout.blocks.length; i++) {
    const physical = layout.blocks[i];
    if (physical === null || physical === undefined) continue;
    const flags = [...(layout.unwritten[i] ? ['unwritten'] : []), ...(next() < 0.5 ? ['shared'] : [])];
    const last = extents.at(-1);
    const contiguous =
      last &&
      last.logical + last.length === i * 4096 &&
      last.physical + last.length === physical * 4096 &&
      last.flags.includes('unwritten') === !!layout.unwritten[i];
    if (contiguous && next() < 0.9) last.length += 4096;
    else extents.push({ logical: i * 4096, physical: physical * 4096, length: 4096, flags });
  }
  const last = extents.at(-1);
  if (last) last.flags.push('last');
  return extents;
}

t.test('property: changedRanges is exactly the blocks whose mapping differs', async (t) => {
  const seed = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  let failures = 0;
  for (let round = 0; round < 400 && failures < 3; round++) {
    const nA = 1 + int(300);
    const sizeA = (nA - 1) * 4096 + 1 + int(4096);
    let physical = 100 + int(1000);
    const a: Layout = { sizeBytes: sizeA, blocks: [], unwritten: [] };
    for (let i = 0; i < nA; i++) {
      if (next() < 0.15) physical += 1 + int(50); // fragmentation
      a.blocks.push(next() < 0.2 ? null : physical++);
      a.unwritten.push(next() < 0.05);
    }
    // B shares most of A; some blocks rewritten (fresh physical blocks), punched, written into holes,
    // converted from unwritten; the size grows, shrinks or stays.
    const nB = Math.max(1, nA + (next() < 0.6 ? 0 : int(40) - 20));
    const sizeB = next() < 0.5 && nB === nA ? sizeA : (nB - 1) * 4096 + 1 + int(4096);
    const b: Layout = { sizeBytes: sizeB, blocks: [], unwritten: [] };
    let fresh = 10_000_000 + int(1000);
    const churn = next() * 0.3;
    for (let i = 0; i < nB; i++) {
      const was = i < nA ? (a.blocks[i] ?? null) : null;
      let now = was;
      let unwritten = i < nA ? (a.unwritten[i] as boolean) : false;
      if (i >= nA) now = next() < 0.3 ? null : fresh++;
      else if (next() < churn) {
        const what = int(4);
        if (what === 0) now = null;
        else if (what === 1) unwritten = !unwritten;
        else now = fresh++;
      }
      b.blocks.push(now);
      b.unwritten.push(now !== null && unwritten);
    }
    const common = Math.min(sizeA, sizeB);
    const expected: ByteRange[] = [];
    for (let i = 0; i * 4096 < common; i++) {
      const pa = a.blocks[i] ?? null;
      const pb = b.blocks[i] ?? null;
      const differs = pa !== pb || (pa !== null && a.unwritten[i] !== b.unwritten[i]);
      if (differs) expected.push({ start: i * 4096, end: Math.min((i + 1) * 4096, common) });
    }
    if (sizeB > sizeA) expected.push({ start: sizeA, end: sizeB });
    const got = changedRanges(
      { sizeBytes: sizeA, extents: extentsOf(a, next) },
      { sizeBytes: sizeB, extents: extentsOf(b, next) },
    );
    if (JSON.stringify(got) !== JSON.stringify(merge(expected))) {
      failures++;
      t.same(got, merge(expected), `round ${round}`);
    }
  }
  t.equal(failures, 0, '400 random pairs');
});

t.test('fileExtents: the map of a real file, null when there is none', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'f.img');
  const handle = await fs.open(file, 'w');
  await handle.truncate(8 * 1024 * KiB + 77);
  await handle.write(randomBytes(64 * KiB), 0, 64 * KiB, 1024 * KiB);
  await handle.datasync();
  await handle.close();
  const map = await fileExtents(file);
  t.ok(map, 'understood');
  t.equal(map?.sizeBytes, 8 * 1024 * KiB + 77);
  t.same(merge((map?.extents ?? []).map((e) => ({ start: e.logical, end: e.logical + e.length }))), [
    { start: 1024 * KiB, end: 1088 * KiB },
  ]);
  t.same(changedRanges(map as ExtentMap, map as ExtentMap), [], 'a flushed file against itself');
  t.equal(await fileExtents(path.join(dir, 'missing.img')), null);
});
