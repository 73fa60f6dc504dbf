import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { xxh64 } from '../../src/core/xxh64.ts';
import { QrvError } from '../../src/core/errors.ts';
import {
  LEDGER_HEADER_BYTES,
  LedgerError,
  LedgerReader,
  LedgerWriter,
  blockHashes,
  ledgerChecksum,
  ledgerPathFor,
  writeLedger,
  type LedgerErrorReason,
} from '../../src/ledger/ledger.ts';
import { writeAt } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';

const dir = await tmpDir(t, 'qrv-ledger-');
let counter = 0;
const ledgerPath = (name = 'l'): string => join(dir, `${++counter}-${name}.qrvledger`);

const base = { blockSize: 4096, sizeBytes: 10 * 4096, snapshotId: 's-0123abcd', qrvId: 'q-89abcdef' };

function randomHashes(count: number): BigUint64Array {
  const hashes = new BigUint64Array(count);
  // randomFillSync fills at most 2^31-1 bytes per call, far more than these tests use
  randomFillSync(hashes);
  return hashes;
}

async function reason(promise: Promise<unknown>): Promise<LedgerErrorReason | string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LedgerError) return error.reason;
    return `not a LedgerError: ${String(error)}`;
  }
  return 'resolved';
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function flipByte(path: string, offset: number): Promise<void> {
  const data = await readFile(path);
  await writeAt(path, offset, Uint8Array.of((data[offset] ?? 0) ^ 0x40));
}

/** Recomputes the header checksum after a deliberate header change. */
async function reseal(path: string): Promise<void> {
  const head = (await readFile(path)).subarray(0, LEDGER_HEADER_BYTES);
  const sum = Buffer.alloc(8);
  sum.writeBigUInt64LE(xxh64(head.subarray(0, 120), 0n));
  await writeAt(path, 120, sum);
}

async function readAll(
  path: string,
  expect?: Parameters<typeof LedgerReader.open>[1],
): Promise<{ header: LedgerReader['header']; hashes: BigUint64Array }> {
  const reader = await LedgerReader.open(path, expect);
  try {
    return { header: reader.header, hashes: await reader.hashes(0, reader.header.blockCount) };
  } finally {
    await reader.close();
  }
}

t.test('round trip, and the bytes on disk follow the documented layout', async (t) => {
  const cases = [
    { blockSize: 4096, sizeBytes: 10 * 4096, blocks: 10 },
    { blockSize: 4096, sizeBytes: 10 * 4096 + 1, blocks: 11 },
    { blockSize: 512, sizeBytes: 1000, blocks: 2 },
    { blockSize: 3, sizeBytes: 7, blocks: 3 },
    { blockSize: 65536, sizeBytes: 0, blocks: 0 },
  ];
  for (const { blockSize, sizeBytes, blocks } of cases) {
    const path = ledgerPath();
    const hashes = randomHashes(blocks);
    const written = await writeLedger(path, { ...base, blockSize, sizeBytes }, hashes);
    t.equal(written.blockCount, blocks, `${sizeBytes}/${blockSize}: block count`);
    t.equal(written.algorithm, 'xxh64');

    const { header, hashes: read } = await readAll(path);
    t.same(header, written, 'the reader sees the header finish() returned');
    t.same(header, {
      ...base,
      blockSize,
      sizeBytes,
      blockCount: blocks,
      algorithm: 'xxh64',
      bodyChecksum: written.bodyChecksum,
    });
    t.same([...read], [...hashes], 'hashes read back');

    const raw = await readFile(path);
    t.equal(raw.length, LEDGER_HEADER_BYTES + 8 * blocks, 'file length');
    t.equal(raw.toString('latin1', 0, 8), 'QRVLEDG1');
    t.equal(raw.readUInt32LE(8), 1, 'version');
    t.equal(raw.readUInt32LE(12), blockSize);
    t.equal(raw.readBigUInt64LE(16), BigInt(sizeBytes));
    t.equal(raw.readBigUInt64LE(24), BigInt(blocks));
    t.equal(raw.toString('latin1', 32, 48), 'xxh64'.padEnd(16, '\0'));
    t.equal(raw.toString('latin1', 48, 80), base.snapshotId.padEnd(32, '\0'));
    t.equal(raw.toString('latin1', 80, 112), base.qrvId.padEnd(32, '\0'));
    t.equal(
      raw.readBigUInt64LE(112),
      xxh64(raw.subarray(LEDGER_HEADER_BYTES), 0n),
      'body checksum is xxh64 of the body',
    );
    t.equal(raw.readBigUInt64LE(112), written.bodyChecksum);
    t.equal(raw.readBigUInt64LE(120), xxh64(raw.subarray(0, 120), 0n), 'header checksum is xxh64 of bytes 0..120');
    for (let i = 0; i < blocks; i++)
      t.equal(raw.readBigUInt64LE(LEDGER_HEADER_BYTES + 8 * i), hashes[i], `hash ${i} little-endian at its slot`);
  }
});

t.test('an empty image has an empty body whose checksum is xxh64 of nothing', async (t) => {
  const path = ledgerPath();
  const header = await writeLedger(path, { ...base, sizeBytes: 0 }, new BigUint64Array(0));
  t.equal(header.bodyChecksum, 0xef46db3751d8e999n);
  const reader = await LedgerReader.open(path, { sizeBytes: 0 });
  t.equal((await reader.hashes(0, 10)).length, 0);
  await reader.close();
});

t.test('ledgerChecksum formats the body checksum', async (t) => {
  t.equal(ledgerChecksum(1n), 'xxh64-blocks:0000000000000001');
  t.equal(ledgerChecksum(0xef46db3751d8e999n), 'xxh64-blocks:ef46db3751d8e999');
  t.equal(ledgerChecksum(0xffffffffffffffffn), 'xxh64-blocks:ffffffffffffffff');
  t.throws(() => ledgerChecksum(1n << 64n));
  t.throws(() => ledgerChecksum(-1n));
});

t.test('ledgerPathFor: beside a file QRV, under the home for a block-device QRV', async (t) => {
  t.equal(
    ledgerPathFor({ id: 'q-1234abcd', destination: '/srv/replicas/db.img', destinationKind: 'file' }, '/var/lib/qrv'),
    '/srv/replicas/db.img.qrvledger',
  );
  t.equal(
    ledgerPathFor({ id: 'q-1234abcd', destination: '/dev/vg/replica', destinationKind: 'block' }, '/var/lib/qrv'),
    '/var/lib/qrv/ledgers/q-1234abcd.qrvledger',
  );
  t.throws(() => ledgerPathFor({ id: '../evil', destination: '/dev/sdb', destinationKind: 'block' }, '/var/lib/qrv'));
});

const hashBlock = (block: Uint8Array): bigint => xxh64(block, 0n);

t.test('blocks are hashed with xxh64, seed 0 (reference vectors)', async (t) => {
  t.equal(blockHashes(Buffer.from('abc'), 3)[0], 0x44bc2cf5ad770999n);
  t.same([...blockHashes(Buffer.alloc(0), 3)], [], 'no bytes, no blocks');
});

t.test('blockHashes is xxh64 of each block-sized slice, the last one short', async (t) => {
  const blockSize = 4096;
  const data = randomBytes(10 * blockSize + 123);
  const hashes = blockHashes(data, blockSize);
  t.equal(hashes.length, 11);
  for (let i = 0; i < 11; i++)
    t.equal(
      hashes[i],
      hashBlock(data.subarray(i * blockSize, Math.min(data.length, (i + 1) * blockSize))),
      `block ${i}`,
    );
  t.equal(
    hashes[10],
    hashBlock(data.subarray(10 * blockSize)),
    'the short last block is hashed over its 123 bytes only',
  );
  t.not(
    hashes[10],
    hashBlock(Buffer.concat([data.subarray(10 * blockSize), Buffer.alloc(blockSize - 123)])),
    'not zero-padded',
  );

  t.same(
    [...blockHashes(data.subarray(0, 2 * blockSize), blockSize)],
    [hashes[0], hashes[1]],
    'an exact multiple has no extra block',
  );
  t.equal(blockHashes(Buffer.from('abc'), 3)[0], 0x44bc2cf5ad770999n, 'xxh64 seed 0 reference vector');
  t.equal(blockHashes(new Uint8Array(0), blockSize).length, 0);
  t.throws(() => blockHashes(data, 0), RangeError);
  t.throws(() => blockHashes(data, 1.5), RangeError);
});

t.test('each kind of damage is detected with its reason', async (t) => {
  const hashes = randomHashes(10);
  const fresh = async (): Promise<string> => {
    const path = ledgerPath();
    await writeLedger(path, base, hashes);
    return path;
  };
  const size = LEDGER_HEADER_BYTES + 8 * 10;

  t.equal(await reason(readAll(await fresh())), 'resolved', 'control: an undamaged ledger opens');

  for (const offset of [0 + 12, 20, 30, 40, 50, 100, 115, 125]) {
    const path = await fresh();
    await flipByte(path, offset);
    t.equal(await reason(LedgerReader.open(path)), 'header-checksum', `header byte ${offset} flipped`);
  }
  for (const offset of [LEDGER_HEADER_BYTES, LEDGER_HEADER_BYTES + 8 * 5 + 3, size - 1]) {
    const path = await fresh();
    await flipByte(path, offset);
    t.equal(await reason(LedgerReader.open(path)), 'body-checksum', `body byte ${offset} flipped`);
  }
  for (const length of [size - 1, size - 8, LEDGER_HEADER_BYTES, 100, 4, 0]) {
    const path = await fresh();
    await truncate(path, length);
    t.equal(await reason(LedgerReader.open(path)), 'truncated', `cut to ${length} bytes`);
  }
  {
    const path = await fresh();
    await writeFile(path, Buffer.alloc(8), { flag: 'a' });
    t.equal(await reason(LedgerReader.open(path)), 'unreadable', 'bytes after the body');
  }
  {
    const path = await fresh();
    await writeAt(path, 0, Buffer.from('QRVLEDG2'));
    t.equal(await reason(LedgerReader.open(path)), 'bad-magic', 'wrong magic');
    const other = ledgerPath();
    await writeFile(other, '{"not":"a ledger"}');
    t.equal(await reason(LedgerReader.open(other)), 'bad-magic', 'a JSON file');
    const tiny = ledgerPath();
    await writeFile(tiny, 'QX');
    t.equal(await reason(LedgerReader.open(tiny)), 'bad-magic', 'a short file that is not a ledger');
  }
  {
    const path = await fresh();
    const two = Buffer.alloc(4);
    two.writeUInt32LE(2);
    await writeAt(path, 8, two);
    t.equal(await reason(LedgerReader.open(path)), 'newer-version', 'version 2, header checksum not updated');
    await reseal(path);
    t.equal(await reason(LedgerReader.open(path)), 'newer-version', 'version 2 with a valid header checksum');
  }
  {
    const path = await fresh();
    const count = Buffer.alloc(8);
    count.writeBigUInt64LE(9n);
    await writeAt(path, 24, count);
    await reseal(path);
    await truncate(path, size - 8);
    t.equal(
      await reason(LedgerReader.open(path)),
      'unreadable',
      'a block count that does not follow from size and block size',
    );
  }
  t.equal(await reason(LedgerReader.open(join(dir, 'no-such.qrvledger'))), 'missing', 'missing file');
  const folder = join(dir, 'a-folder.qrvledger');
  await mkdir(folder);
  t.equal(await reason(LedgerReader.open(folder)), 'unreadable', 'a directory');
});

t.test(
  'expectations: a ledger for another snapshot, size, block size or QRV is a mismatch naming the difference',
  async (t) => {
    const path = ledgerPath();
    await writeLedger(path, base, randomHashes(10));
    t.equal(
      await reason(
        readAll(path, { snapshotId: base.snapshotId, sizeBytes: base.sizeBytes, blockSize: base.blockSize }),
      ),
      'resolved',
      'control: matching expectations',
    );
    const cases: Array<[Parameters<typeof LedgerReader.open>[1], RegExp]> = [
      [{ snapshotId: 's-ffffffff' }, /snapshotId "s-0123abcd", expected "s-ffffffff"/],
      [{ sizeBytes: base.sizeBytes + 1 }, /sizeBytes 40960, expected 40961/],
      [{ blockSize: 512 }, /blockSize 4096, expected 512/],
      [{ qrvId: 'q-ffffffff' }, new RegExp(`qrvId "${base.qrvId}", expected "q-ffffffff"`)],
    ];
    for (const [expect, message] of cases) {
      await t.rejects(
        LedgerReader.open(path, expect),
        { name: 'LedgerError', reason: 'mismatch', message },
        JSON.stringify(expect),
      );
    }
    await t.rejects(
      LedgerReader.open(path, { snapshotId: 'x', blockSize: 1 }),
      { reason: 'mismatch', message: /snapshotId.*; blockSize/ },
      'every difference is named',
    );
  },
);

t.test('hashes() across window boundaries of a 300 000-block ledger', async (t) => {
  const blocks = 300_000;
  const header = { ...base, blockSize: 1, sizeBytes: blocks };
  const hashes = randomHashes(blocks);
  const path = ledgerPath();
  await writeLedger(path, header, hashes);
  const reader = await LedgerReader.open(path, { blockSize: 1, sizeBytes: blocks });
  t.teardown(() => reader.close());
  t.equal(reader.header.blockCount, blocks);
  t.equal(reader.path, path);

  const same = (got: BigUint64Array, start: number, end: number, what: string): void => {
    const want = hashes.subarray(start, Math.min(end, blocks));
    t.equal(got.length, want.length, `${what}: length`);
    t.ok(
      Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
        Buffer.from(want.buffer, want.byteOffset, want.byteLength),
      ),
      `${what}: values`,
    );
  };

  // sequential reads in odd-sized steps cross every window boundary
  const step = 7919;
  const sequential = new BigUint64Array(blocks);
  for (let at = 0; at < blocks; at += step) sequential.set(await reader.hashes(at, step), at);
  same(sequential, 0, blocks, 'sequential reads');

  same(await reader.hashes(131_000, 200), 131_000, 131_200, 'a range spanning the first 1 MiB boundary');
  same(await reader.hashes(5, 10), 5, 15, 'a backward jump');
  same(await reader.hashes(0, blocks), 0, blocks, 'everything at once (larger than the window)');
  same(await reader.hashes(299_990, 100), 299_990, blocks, 'clipped at the end');
  t.equal((await reader.hashes(blocks, 5)).length, 0, 'past the end');
  t.equal((await reader.hashes(10, 0)).length, 0, 'count 0');

  const ranges = [
    [290_000, 5000],
    [3, 4],
    [131_071, 2],
    [200_000, 70_000],
  ] as const;
  const concurrent = await Promise.all(ranges.map(([start, count]) => reader.hashes(start, count)));
  ranges.forEach(([start, count], i) =>
    same(concurrent[i] as BigUint64Array, start, start + count, `concurrent call ${i}`),
  );

  await t.rejects(reader.hashes(-1, 5), RangeError);
  await t.rejects(reader.hashes(0, 1.5), RangeError);
});

t.test('the body checksum covers every 1 MiB piece of a large body', async (t) => {
  const blocks = 300_000;
  const path = ledgerPath();
  await writeLedger(path, { ...base, blockSize: 1, sizeBytes: blocks }, randomHashes(blocks));
  await flipByte(path, LEDGER_HEADER_BYTES + 8 * blocks - 2);
  t.equal(await reason(LedgerReader.open(path)), 'body-checksum', 'a byte in the third piece');
});

t.test('resume after a crash gives the same ledger as one uninterrupted write', async (t) => {
  const blocks = 300_000;
  const header = { ...base, blockSize: 1, sizeBytes: blocks };
  const hashes = randomHashes(blocks);
  const oneShot = ledgerPath('one-shot');
  const expected = await writeLedger(oneShot, header, hashes);

  const path = ledgerPath('resumed');
  const first = await LedgerWriter.create(path, header);
  t.equal(first.partialPath, `${path}.partial`);
  for (let at = 0; at < 100_000; at += 777) await first.append(hashes.subarray(at, Math.min(at + 777, 100_000)));
  t.equal(first.blocksWritten, 100_000);
  await first.flush();
  const durable = first.blocksWritten;
  // more than a buffer's worth (131 072): part of it reaches the file without a flush
  await first.append(hashes.subarray(100_000, 240_000));
  t.equal(first.blocksWritten, 240_000);
  await first.close(); // the crash: no finish
  t.ok(
    (await stat(first.partialPath)).size > LEDGER_HEADER_BYTES + 8 * durable,
    'the partial holds more than the durable prefix',
  );
  t.equal(await exists(path), false, 'no ledger under the final name yet');

  const second = await LedgerWriter.resume(path, header, durable);
  t.equal(second.blocksWritten, durable);
  t.equal(
    (await stat(second.partialPath)).size,
    LEDGER_HEADER_BYTES + 8 * durable,
    'cut to exactly the resumed hashes',
  );
  await second.append(hashes.subarray(durable, 250_000));
  t.equal(second.blocksWritten, 250_000);
  await second.append(hashes.subarray(250_000));
  const finished = await second.finish();
  t.same(finished, expected, 'same header as the one-shot write');
  t.ok((await readFile(path)).equals(await readFile(oneShot)), 'byte for byte the same file');
  t.same(await readdir(dir).then((names) => names.filter((name) => name.endsWith('.partial'))), [], 'no partial left');
  t.equal(await reason(readAll(path, { blockSize: 1, sizeBytes: blocks })), 'resolved');
});

t.test('resume refuses a partial that cannot continue', async (t) => {
  const hashes = randomHashes(10);
  const crashed = async (held: number): Promise<string> => {
    const path = ledgerPath();
    const writer = await LedgerWriter.create(path, base);
    await writer.append(hashes.subarray(0, held));
    await writer.flush();
    await writer.close();
    return path;
  };

  {
    const path = await crashed(4);
    t.equal(await reason(LedgerWriter.resume(path, base, 5)), 'truncated', 'more blocks done than the partial holds');
    t.equal((await stat(`${path}.partial`)).size, LEDGER_HEADER_BYTES + 8 * 4, 'the refused partial is left as it was');
    const resumed = await LedgerWriter.resume(path, base, 4);
    t.equal(resumed.blocksWritten, 4, 'control: the blocks it does hold resume');
    await resumed.discard();
    t.equal(await exists(`${path}.partial`), false, 'discard deletes the partial');
  }
  for (const [field, value] of [
    ['snapshotId', 's-ffffffff'],
    ['qrvId', 'q-ffffffff'],
    ['blockSize', 512],
    ['sizeBytes', base.sizeBytes + 1],
  ] as const) {
    const path = await crashed(4);
    await t.rejects(
      LedgerWriter.resume(path, { ...base, [field]: value }, 4),
      { reason: 'mismatch', message: new RegExp(field) },
      `another ${field}`,
    );
  }
  {
    const path = await crashed(0);
    const resumed = await LedgerWriter.resume(path, base, 0);
    await resumed.append(hashes);
    const header = await resumed.finish();
    t.same([...(await readAll(path)).hashes], [...hashes], 'resume from zero');
    t.equal(header.blockCount, 10);
  }
  {
    const path = await crashed(4);
    await writeAt(`${path}.partial`, 0, Buffer.from('NOTLEDGR'));
    t.equal(await reason(LedgerWriter.resume(path, base, 4)), 'bad-magic');
  }
  t.equal(await reason(LedgerWriter.resume(ledgerPath(), base, 0)), 'missing', 'no partial');
  await t.rejects(
    LedgerWriter.resume(await crashed(4), base, 11),
    RangeError,
    'more blocks done than the ledger has is a bug',
  );
});

t.test('finish needs every hash; append refuses more than the ledger has', async (t) => {
  const path = ledgerPath();
  const writer = await LedgerWriter.create(path, base);
  await writer.append(randomHashes(9));
  let error: unknown;
  try {
    await writer.finish();
  } catch (caught) {
    error = caught;
  }
  t.ok(
    error instanceof Error && !(error instanceof LedgerError),
    `finish with 9 of 10 hashes throws a plain Error (${String(error)})`,
  );
  t.match(String(error), /9 of its 10/);
  t.throws(() => writer.append(randomHashes(2)), /exceed/);
  t.equal(writer.blocksWritten, 9, 'the refused append added nothing');
  await writer.append(randomHashes(1));
  await writer.finish();
  t.equal(await reason(readAll(path)), 'resolved', 'control: with the tenth hash it finishes');
  t.throws(() => writer.append(randomHashes(1)), /closed/, 'a finished writer takes no more');

  for (const [count, message] of [
    [11, /exceed/],
    [3, /3 of its 10/],
  ] as const) {
    const failed = ledgerPath();
    await t.rejects(writeLedger(failed, base, randomHashes(count)), message, `writeLedger with ${count} hashes`);
    t.equal(await exists(`${failed}.partial`), false, 'a failed writeLedger leaves no partial');
    t.equal(await exists(failed), false, 'nor a ledger');
  }
});

t.test('files are private, the folder is never created, the partial is gone after finish', async (t) => {
  const path = join(dir, 'nested', 'deeper', 'x.qrvledger');
  await t.rejects(LedgerWriter.create(path, base), { code: 'open-failed' }, 'a missing folder is an error, not made');
  await mkdir(join(dir, 'nested', 'deeper'), { recursive: true });
  const writer = await LedgerWriter.create(path, base);
  t.equal((await stat(writer.partialPath)).mode & 0o777, 0o600, 'partial is 0600');
  const head = (await readFile(writer.partialPath)).subarray(0, LEDGER_HEADER_BYTES);
  t.equal(head.toString('latin1', 0, 8), 'QRVLEDG1', 'the partial starts with its header');
  t.equal(head.readUInt32LE(12), base.blockSize);
  t.equal(head.toString('latin1', 48, 58), base.snapshotId);
  await writer.append(randomHashes(10));
  await writer.finish();
  t.same(await readdir(join(dir, 'nested', 'deeper')), ['x.qrvledger'], 'only the ledger remains');
  t.equal((await stat(path)).mode & 0o777, 0o600, 'ledger is 0600');

  const replaced = randomHashes(10);
  await writeLedger(path, base, replaced);
  t.same([...(await readAll(path)).hashes], [...replaced], 'a new ledger replaces the old one');
});

t.test('create starts over, close keeps the partial, bad header input is a bug', async (t) => {
  const path = ledgerPath();
  const first = await LedgerWriter.create(path, base);
  await first.append(randomHashes(6));
  await first.flush();
  await first.close();
  await first.close();
  t.equal((await stat(first.partialPath)).size, LEDGER_HEADER_BYTES + 48, 'close keeps the flushed partial');
  const second = await LedgerWriter.create(path, base);
  t.equal(second.blocksWritten, 0);
  t.equal((await stat(second.partialPath)).size, LEDGER_HEADER_BYTES, 'create replaces an old partial');
  await second.discard();

  await t.rejects(LedgerWriter.create(ledgerPath(), { ...base, snapshotId: 'x'.repeat(33) }), RangeError);
  await t.rejects(LedgerWriter.create(ledgerPath(), { ...base, qrvId: 'q-é' }), RangeError);
  await t.rejects(LedgerWriter.create(ledgerPath(), { ...base, blockSize: 0 }), RangeError);
  await t.rejects(LedgerWriter.create(ledgerPath(), { ...base, sizeBytes: -1 }), RangeError);
  await t.rejects(LedgerWriter.create(ledgerPath(), { ...base, blockSize: 2 ** 32 }), RangeError);
});

t.test('a 32-byte id fills its field without a NUL and still reads back', async (t) => {
  const path = ledgerPath();
  const header = { ...base, snapshotId: 's'.repeat(32), qrvId: 'q'.repeat(32) };
  await writeLedger(path, header, randomHashes(10));
  const { header: read } = await readAll(path, { snapshotId: 's'.repeat(32) });
  t.equal(read.snapshotId, header.snapshotId);
  t.equal(read.qrvId, header.qrvId);
});

t.test('a filesystem failure while writing is a QrvError the user can act on', async (t) => {
  const notAFolder = join(dir, 'plain-file');
  await writeFile(notAFolder, 'x');
  const error = await LedgerWriter.create(join(notAFolder, 'x.qrvledger'), base).catch((caught: unknown) => caught);
  t.ok(error instanceof QrvError, `a QrvError (${String(error)})`);
  t.match(error, { exit: 'io', message: /ENOTDIR|EEXIST/ });
});
