import { randomBytes } from 'node:crypto';
import t from 'tap';
import { CHECKSUM_ALGORITHM, ImageHasher, createImageHasher, formatChecksum, hashBlock } from '../../src/core/checksum.ts';

t.test('hashBlock is xxh64 with seed 0 (reference vectors)', async (t) => {
  t.equal(hashBlock(Buffer.alloc(0)), 0xef46db3751d8e999n);
  t.equal(hashBlock(Buffer.from('abc')), 0x44bc2cf5ad770999n);
});

t.test('formatChecksum pads to 16 hex digits with the algorithm prefix', async (t) => {
  t.equal(CHECKSUM_ALGORITHM, 'xxh64');
  t.equal(formatChecksum(1n), 'xxh64:0000000000000001');
  t.equal(formatChecksum(0xffffffffffffffffn), 'xxh64:ffffffffffffffff');
});

t.test('streaming digest equals the one-shot hash, however the input is split', async (t) => {
  const data = randomBytes(3 * 65536 + 123);
  const expected = formatChecksum(hashBlock(data));
  for (const pieces of [[data.length], [1, 65535, 65536, 65536, 123], [100_000, 96_731]]) {
    const hasher = new ImageHasher();
    let at = 0;
    for (const length of pieces) {
      hasher.update(data.subarray(at, at + length));
      at += length;
    }
    t.equal(at, data.length);
    t.equal(hasher.bytesHashed, data.length);
    t.equal(hasher.digest(), expected, `split ${pieces.join('+')}`);
  }
});

t.test('empty input and the factory', async (t) => {
  const hasher = createImageHasher();
  t.ok(hasher instanceof ImageHasher);
  t.equal(hasher.digest(), 'xxh64:ef46db3751d8e999');
  t.match(createImageHasher().update(Buffer.from('x')).digest(), /^xxh64:[0-9a-f]{16}$/);
});

t.test('different data gives different checksums (zeros included)', async (t) => {
  const a = new ImageHasher().update(Buffer.alloc(65536)).digest();
  const b = new ImageHasher().update(Buffer.alloc(65537)).digest();
  t.not(a, b, 'trailing zero byte changes the checksum');
});
