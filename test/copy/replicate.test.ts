// The copy engine against every way of knowing the destination: random volumes and random
// change patterns (single bytes, block edges, the last partial block, whole ranges, growth,
// shrinking); after each copy the destination is byte for byte the new snapshot, and the blocks
// written are exactly the blocks that changed. Interrupted copies resume to the same result.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ByteRange } from '../../src/core/byte-range.ts';
import { replicate, type Base } from '../../src/copy/replicate.ts';
import { blockAligned } from '../../src/copy/block-ranges.ts';
import { verifyBlocks } from '../../src/copy/verify.ts';
import { LedgerReader, LedgerWriter } from '../../src/ledger/ledger.ts';

const BLOCK = 4096; // small blocks: many blocks, small files, the same code paths
const BUFFER = 8 * BLOCK;

const dir = await mkdtemp(join(tmpdir(), 'qrv-replicate-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
let counter = 0;
const file = (name: string): string => join(dir, `${++counter}-${name}`);

/** Blocks that differ between two images, counting every block past the shorter one's end. */
function changedBlocks(before: Buffer, after: Buffer): number {
  let count = 0;
  for (let block = 0; block * BLOCK < after.length; block++) {
    const start = block * BLOCK;
    const a = after.subarray(start, start + BLOCK);
    const b = before.subarray(start, start + BLOCK);
    if (a.length !== b.length || !a.equals(b)) count++;
  }
  return count;
}

/** A volume: random data with some zero regions, of a size that is no multiple of the block. */
function volume(size: number): Buffer {
  const data = randomBytes(size);
  for (let i = 0; i < 3; i++) {
    const start = randomInt(size);
    data.fill(0, start, Math.min(size, start + randomInt(6 * BLOCK)));
  }
  return data;
}

type Change = { name: string; apply: (data: Buffer) => { data: Buffer; ranges: ByteRange[] } };

const changes: Change[] = [
  {
    name: 'single bytes',
    apply: (data) => {
      const out = Buffer.from(data);
      const ranges: ByteRange[] = [];
      for (let i = 0; i < 5; i++) {
        const at = randomInt(out.length);
        out[at] = (out[at] as number) ^ 0xff;
        ranges.push({ start: at, end: at + 1 });
      }
      return { data: out, ranges };
    },
  },
  {
    name: 'block edges',
    apply: (data) => {
      const out = Buffer.from(data);
      const edge = BLOCK * (1 + randomInt(Math.floor(out.length / BLOCK) - 1));
      randomBytes(2).copy(out, edge - 1);
      return { data: out, ranges: [{ start: edge - 1, end: edge + 1 }] };
    },
  },
  {
    name: 'the last partial block',
    apply: (data) => {
      const out = Buffer.from(data);
      out[out.length - 1] = (out[out.length - 1] as number) ^ 1;
      return { data: out, ranges: [{ start: out.length - 1, end: out.length }] };
    },
  },
  {
    name: 'a whole range, zeroed and rewritten',
    apply: (data) => {
      const out = Buffer.from(data);
      const start = randomInt(Math.floor(out.length / 2));
      const end = start + randomInt(10 * BLOCK);
      out.fill(0, start, Math.min(end, out.length));
      randomBytes(BLOCK).copy(out, Math.min(out.length - BLOCK, end));
      return { data: out, ranges: [{ start, end: Math.min(out.length, end + BLOCK) }] };
    },
  },
  {
    name: 'growth',
    apply: (data) => {
      const extra = randomBytes(randomInt(1, 5 * BLOCK));
      return { data: Buffer.concat([data, extra]), ranges: [{ start: data.length, end: data.length + extra.length }] };
    },
  },
  {
    name: 'shrinking',
    apply: (data) => ({ data: data.subarray(0, data.length - randomInt(1, 3 * BLOCK)), ranges: [] }),
  },
];

/** A first full copy with a ledger; returns the destination, its ledger path and its checksum. */
async function firstCopy(
  source: string,
  size: number,
): Promise<{ destination: string; ledger: string; checksum: string }> {
  const destination = file('qrv.img');
  const ledger = `${destination}.qrvledger`;
  const out = await LedgerWriter.create(ledger, {
    blockSize: BLOCK,
    sizeBytes: size,
    snapshotId: 's-00000001',
    qrvId: 'q-00000001',
  });
  const result = await replicate({
    source,
    destination,
    destinationKind: 'file',
    sizeBytes: size,
    base: { kind: 'fresh' },
    ledgerOut: out,
    blockSize: BLOCK,
    bufferSize: BUFFER,
  });
  return { destination, ledger, checksum: result.checksum };
}

for (const change of changes) {
  for (const method of ['ledger', 'provider', 'compare'] as const) {
    t.test(`${change.name}: ${method}`, async (t) => {
      for (let round = 0; round < 4; round++) {
        const before = volume(randomInt(20 * BLOCK, 60 * BLOCK) + randomInt(1, BLOCK));
        const first = file('snap-a.img');
        await writeFile(first, before);
        const qrv = await firstCopy(first, before.length);
        const { data: after, ranges } = change.apply(before);
        const second = file('snap-b.img');
        await writeFile(second, after);

        const old = await LedgerReader.open(qrv.ledger);
        const base: Base =
          method === 'compare'
            ? { kind: 'compare' }
            : { kind: 'ledger', ledger: old, ranges: method === 'provider' ? ranges : null };
        const out = await LedgerWriter.create(qrv.ledger, {
          blockSize: BLOCK,
          sizeBytes: after.length,
          snapshotId: 's-00000002',
          qrvId: 'q-00000001',
        });
        const result = await replicate({
          source: second,
          destination: qrv.destination,
          destinationKind: 'file',
          sizeBytes: after.length,
          base,
          ledgerOut: out,
          blockSize: BLOCK,
          bufferSize: BUFFER,
        });
        await old.close();

        t.ok(
          (await readFile(qrv.destination)).equals(after),
          `round ${round}: the QRV is the new snapshot, byte for byte`,
        );
        // A compare reads the destination after it was cut or extended to the new size; a ledger
        // knows blocks whose length changed only as changed.
        const resized =
          method === 'compare'
            ? Buffer.concat([before, Buffer.alloc(Math.max(0, after.length - before.length))]).subarray(0, after.length)
            : before;
        const expected = changedBlocks(resized, after);
        t.equal(result.changedBlocks, expected, `round ${round}: only the ${expected} changed blocks were written`);
        t.equal(result.method, method === 'compare' ? 'full' : method);
        if (method === 'provider') {
          const reading = blockAligned(
            ranges.concat(
              after.length !== before.length
                ? [{ start: Math.min(before.length, after.length), end: after.length }]
                : [],
            ),
            BLOCK,
            0,
            after.length,
          );
          t.equal(
            result.bytesRead,
            reading.reduce((sum, r) => sum + r.end - r.start, 0),
            'only the provider ranges were read',
          );
        } else {
          t.equal(result.bytesRead, after.length, 'the whole snapshot was read once');
        }
        const fresh = await replicate({
          source: second,
          destination: file('fresh.img'),
          destinationKind: 'file',
          sizeBytes: after.length,
          base: { kind: 'fresh' },
          blockSize: BLOCK,
          bufferSize: BUFFER,
        });
        t.equal(result.checksum, fresh.checksum, 'the checksum is that of a full copy of the snapshot');
        const check = await verifyBlocks({ path: qrv.destination, ledgerPath: qrv.ledger });
        t.equal(check.badCount, 0, 'the new ledger describes the QRV');
      }
    });
  }
}

t.test('a fresh copy skips zero blocks in a file, writes every block to a device-like destination', async (t) => {
  const data = Buffer.alloc(40 * BLOCK + 100);
  randomBytes(3 * BLOCK).copy(data, 10 * BLOCK);
  const source = file('sparse.img');
  await writeFile(source, data);
  const destination = file('sparse-copy.img');
  const result = await replicate({
    source,
    destination,
    destinationKind: 'file',
    sizeBytes: data.length,
    base: { kind: 'fresh' },
    blockSize: BLOCK,
    bufferSize: BUFFER,
  });
  t.equal(result.changedBlocks, 3);
  t.equal(result.bytesWritten, 3 * BLOCK);
  t.equal(result.zeroBytesSkipped, data.length - 3 * BLOCK);
  t.ok((await readFile(destination)).equals(data));
  t.ok((await stat(destination)).blocks * 512 < data.length / 2, 'the destination stays sparse');
});

t.test('the destination that the ledger says holds stale data past a shrink is cut to size', async (t) => {
  const before = volume(30 * BLOCK + 17);
  const a = file('a.img');
  await writeFile(a, before);
  const qrv = await firstCopy(a, before.length);
  const after = before.subarray(0, 12 * BLOCK + 5);
  const b = file('b.img');
  await writeFile(b, after);
  const old = await LedgerReader.open(qrv.ledger);
  const out = await LedgerWriter.create(qrv.ledger, {
    blockSize: BLOCK,
    sizeBytes: after.length,
    snapshotId: 's-2',
    qrvId: 'q-1',
  });
  const result = await replicate({
    source: b,
    destination: qrv.destination,
    destinationKind: 'file',
    sizeBytes: after.length,
    base: { kind: 'ledger', ledger: old, ranges: null },
    ledgerOut: out,
    blockSize: BLOCK,
    bufferSize: BUFFER,
  });
  await old.close();
  t.equal((await stat(qrv.destination)).size, after.length);
  t.equal(result.changedBlocks, 1, 'only the new last (partial) block');
  t.ok((await readFile(qrv.destination)).equals(after));
});

t.test('an interrupted copy resumes from its last checkpoint to the same QRV and ledger', async (t) => {
  for (const kind of ['fresh', 'ledger', 'compare'] as const) {
    for (let round = 0; round < 3; round++) {
      const before = volume(randomInt(60 * BLOCK, 120 * BLOCK) + 123);
      const a = file('a.img');
      await writeFile(a, before);
      const qrv = await firstCopy(a, before.length);
      const after = Buffer.from(before);
      for (let i = 0; i < 20; i++) after[randomInt(after.length)] = randomInt(256);
      const b = file('b.img');
      await writeFile(b, after);
      if (kind === 'fresh') await truncate(qrv.destination, 0);

      const header = { blockSize: BLOCK, sizeBytes: after.length, snapshotId: 's-2', qrvId: 'q-1' };
      const baseFor = async (): Promise<{ base: Base; close: () => Promise<void> }> => {
        if (kind !== 'ledger') return { base: { kind }, close: async () => undefined };
        const ledger = await LedgerReader.open(qrv.ledger);
        return { base: { kind: 'ledger', ledger, ranges: null }, close: () => ledger.close() };
      };
      // The first run dies at a random checkpoint, as a killed process would: nothing after the
      // last saved checkpoint is trusted.
      const dieAt = randomInt(1, 6);
      let saves = 0;
      let saved = 0;
      const first = await baseFor();
      const out = await LedgerWriter.create(qrv.ledger, header);
      const crash = new Error('killed');
      await t.rejects(
        replicate({
          source: b,
          destination: qrv.destination,
          destinationKind: 'file',
          sizeBytes: after.length,
          base: first.base,
          ledgerOut: out,
          blockSize: BLOCK,
          bufferSize: BUFFER,
          checkpoint: {
            everyMs: 0,
            save: async (p) => {
              if (++saves === dieAt) throw crash;
              saved = p.blocksDone;
            },
          },
        }),
        crash,
      );
      await first.close();
      await out.close();
      // Blocks past the checkpoint may or may not be on the destination already: the killed run
      // may have written the new data of a few (never anything else).
      const ahead = (saved + 2) * BLOCK;
      if (ahead < after.length) {
        const handle = await open(qrv.destination, 'r+');
        await handle.write(after, ahead, Math.min(BLOCK, after.length - ahead), ahead);
        await handle.close();
      }

      const second = await baseFor();
      const resumed = await LedgerWriter.resume(qrv.ledger, header, saved);
      const result = await replicate({
        source: b,
        destination: qrv.destination,
        destinationKind: 'file',
        sizeBytes: after.length,
        base: second.base,
        ledgerOut: resumed,
        startBlock: saved,
        blockSize: BLOCK,
        bufferSize: BUFFER,
      });
      await second.close();
      const whole = await replicate({
        source: b,
        destination: file('whole.img'),
        destinationKind: 'file',
        sizeBytes: after.length,
        base: { kind: 'fresh' },
        blockSize: BLOCK,
        bufferSize: BUFFER,
      });
      t.equal(result.checksum, whole.checksum, `${kind} round ${round}: the resumed ledger equals a one-go copy's`);
      t.equal(
        (await verifyBlocks({ path: qrv.destination, ledgerPath: qrv.ledger })).badCount,
        0,
        'the ledger describes the QRV',
      );
      t.ok(
        (await readFile(qrv.destination)).equals(after),
        `${kind} round ${round}: died at checkpoint ${dieAt}, resumed at block ${saved}: the QRV is the snapshot`,
      );
    }
  }
});

t.test('a resume needs a ledger for the hashes of what was done', async (t) => {
  const source = file('s.img');
  await writeFile(source, randomBytes(3 * BLOCK));
  await t.rejects(
    replicate({
      source,
      destination: file('d.img'),
      destinationKind: 'file',
      sizeBytes: 3 * BLOCK,
      base: { kind: 'fresh' },
      startBlock: 1,
      blockSize: BLOCK,
    }),
    /resumes only with a ledger/,
  );
});

t.test('blockAligned widens, merges and clips', async (t) => {
  t.same(
    blockAligned(
      [
        { start: 5, end: 6 },
        { start: 4095, end: 4097 },
        { start: 20000, end: 99999 },
      ],
      BLOCK,
      0,
      30000,
    ),
    [
      { start: 0, end: 8192 },
      { start: 16384, end: 30000 },
    ],
  );
  t.same(blockAligned([{ start: 0, end: 10 }], BLOCK, BLOCK, 30000), []);
  t.same(blockAligned([], BLOCK, 0, 30000), []);
});
