// XXH64 in WebAssembly: the published test vectors, one-shot = streaming however the input is cut,
// running hashes that interleave, and inputs larger than the module's memory (it grows).
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { Xxh64, xxh64 } from '../../src/core/xxh64.ts';

t.test('the reference values (xxhsum, seed 0 and a seed)', async (t) => {
  t.equal(xxh64(''), 0xef46db3751d8e999n);
  t.equal(xxh64(Buffer.alloc(0)), 0xef46db3751d8e999n);
  t.equal(xxh64('a'), 0xd24ec4f1a98c6e5bn);
  t.equal(xxh64('abc'), 0x44bc2cf5ad770999n);
  t.equal(xxh64('Nobody inspects the spammish repetition'), 0xfbcea83c8a378bf1n);
  t.equal(xxh64('', 1n), 0xd5afba1336a3be4bn, 'seed 1');
  t.equal(new Xxh64().update('abc').digest(), 0x44bc2cf5ad770999n);
  t.equal(new Xxh64().digest(), 0xef46db3751d8e999n, 'nothing added');
});

t.test('streaming equals one-shot, however the input is cut', async (t) => {
  const data = randomBytes(300_000);
  const whole = xxh64(data);
  for (const piece of [1, 7, 31, 32, 33, 4096, 65_537, 300_000]) {
    const running = new Xxh64(0n);
    for (let at = 0; at < data.length; at += piece) running.update(data.subarray(at, at + piece));
    t.equal(running.digest(), whole, `pieces of ${piece} bytes`);
  }
});

t.test('running hashes interleave; digest does not end one', async (t) => {
  const a = randomBytes(10_000);
  const b = randomBytes(20_000);
  const ha = new Xxh64();
  const hb = new Xxh64(5n);
  for (let at = 0; at < 20_000; at += 1000) {
    if (at < 10_000) ha.update(a.subarray(at, at + 1000));
    hb.update(b.subarray(at, at + 1000));
    xxh64(randomBytes(3000)); // a one-shot between updates uses the same memory
  }
  t.equal(ha.digest(), xxh64(a));
  t.equal(ha.digest(), xxh64(a), 'twice the same');
  t.equal(hb.digest(), xxh64(b, 5n));
  ha.update(b);
  t.equal(ha.digest(), xxh64(Buffer.concat([a, b])), 'goes on after a digest');
});

t.test('inputs beyond the module memory grow it', async (t) => {
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 0x5a);
  big[big.length - 1] = 1;
  const one = xxh64(big);
  t.equal(new Xxh64().update(big.subarray(0, 3)).update(big.subarray(3)).digest(), one);
  t.not(one, xxh64(big.subarray(0, big.length - 1)), 'the last byte counts');
  t.equal(xxh64(big.subarray(0, 16)), xxh64(Buffer.alloc(16, 0x5a)), 'a view is hashed, not its buffer');
});
