import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { keyFromSecret } from '../../src/archive/key.ts';
import { chunkKey, DEFAULT_CHUNK_SIZE } from '../../src/archive/layout.ts';
import { readManifest, writeManifest } from '../../src/archive/manifest.ts';
import { restoreGeneration } from '../../src/archive/restore.ts';
import { sendGeneration } from '../../src/archive/send.ts';
import { checksumImage } from '../../src/copy/block-copy.ts';
import { Reporter } from '../../src/core/events.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';
import type { ArchiveStore } from '../../src/stores/store.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;

/** A 40 MiB image: 28 MiB of random data, 8 MiB of zeros written, 4 MiB left a hole. */
async function makeImage(file: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  await handle.write(randomBytes(28 * MiB), 0, 28 * MiB, 0);
  await handle.write(Buffer.alloc(8 * MiB), 0, 8 * MiB, 28 * MiB);
  await handle.truncate(40 * MiB);
  await handle.close();
}

async function send(
  store: ArchiveStore,
  image: string,
  id: string,
  key = null as ReturnType<typeof keyFromSecret> | null,
) {
  return sendGeneration({
    store,
    key,
    path: image,
    reporter: new Reporter(),
    manifest: {
      id,
      volume: 'web',
      sizeBytes: 40 * MiB,
      chunkSize: DEFAULT_CHUNK_SIZE,
      pointInTime: '2026-12-04T10:00:00.000Z',
      createdAt: '2026-12-04T10:00:01.000Z',
      sourceId: 's-1',
      snapshotId: 's-1',
      consistency: 'atomic',
    },
  });
}

async function restore(
  store: ArchiveStore,
  id: string,
  to: string,
  key = null as ReturnType<typeof keyFromSecret> | null,
) {
  const manifest = await readManifest(store, 'web', id, key);
  const handle = await fs.open(to, 'w+', 0o600);
  try {
    return await restoreGeneration({ store, key, manifest, handle, target: to, fresh: true, reporter: new Reporter() });
  } finally {
    await handle.close();
  }
}

t.test('a generation goes to a store and comes back byte for byte; zeros and holes cost nothing', async (t) => {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'web.img');
  await makeImage(image);
  const store = await openDirStore(path.join(dir, 'store'), true);
  t.teardown(() => store.close());
  const first = await send(store, image, 'a-000000000001');
  t.equal(first.chunks.length, 10);
  t.equal(first.stats.chunksZero, 3, 'two written-zero chunks and one hole');
  t.equal(first.stats.chunksSent, 7);
  t.ok(
    first.stats.bytesSent >= 28 * MiB && first.stats.bytesSent < 28 * MiB + 4096,
    'random data is stored, not inflated',
  );
  t.equal(first.checksum, await checksumImage(image, 40 * MiB), 'the checksum the copy engine computes');
  const out = path.join(dir, 'out.img');
  const restored = await restore(store, 'a-000000000001', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'byte for byte');
  t.equal(restored.bytesWritten, 28 * MiB, 'only the data chunks were written');
  t.equal(await checksumImage(out, 40 * MiB), first.checksum);

  // change 1 % of the image: one 64 KiB block in one chunk, and another in a second
  const handle = await fs.open(image, 'r+');
  await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, 5 * MiB);
  await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, 17 * MiB);
  await handle.close();
  const second = await send(store, image, 'a-000000000002');
  t.equal(second.stats.chunksSent, 2, 'only the two changed chunks are sent');
  t.equal(second.stats.chunksDeduplicated, 5);
  t.ok(second.stats.bytesSent <= 8 * MiB + 4096);
  await restore(store, 'a-000000000002', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'the second generation, byte for byte');
  await restore(store, 'a-000000000001', out);
  t.equal(await checksumImage(out, 40 * MiB), first.checksum, 'and the first is still whole');
});

t.test('a damaged chunk is found, and nothing of it is written', async (t) => {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'web.img');
  await makeImage(image);
  const root = path.join(dir, 'store');
  const store = await openDirStore(root, true);
  t.teardown(() => store.close());
  const manifest = await send(store, image, 'a-000000000001');
  const victim = path.join(root, chunkKey(manifest.chunks[3]!));
  const bytes = await fs.readFile(victim);
  const at = bytes.length >> 1;
  bytes[at] = bytes[at]! ^ 0x01;
  await fs.writeFile(victim, bytes);
  const out = path.join(dir, 'out.img');
  await t.rejects(restore(store, 'a-000000000001', out), {
    code: 'archive-corrupt',
    message: /its content does not match its hash/,
  });
  // chunk 3 is random data: where it belongs, the new file holds only zeros (a hole) or ends before
  const written = await fs.readFile(out);
  const region = written.subarray(3 * DEFAULT_CHUNK_SIZE, 4 * DEFAULT_CHUNK_SIZE);
  t.ok(
    region.every((byte) => byte === 0),
    `nothing of the damaged chunk was written (${region.length} bytes there)`,
  );
  await store.put('generations/web/a-000000000001', Buffer.from('QRVa garbage'));
  await t.rejects(readManifest(store, 'web', 'a-000000000001', null), { code: 'archive-corrupt' });
});

t.test('an encrypted generation opens only with its key; names do not reveal content', async (t) => {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'web.img');
  await makeImage(image);
  const root = path.join(dir, 'store');
  const store = await openDirStore(root, true);
  t.teardown(() => store.close());
  const key = keyFromSecret('k', randomBytes(64));
  const plain = await send(store, image, 'a-000000000001');
  const sealed = await send(store, image, 'a-000000000002', key);
  t.equal(sealed.stats.chunksSent, 7, 'sealed chunks have other names: none shared with the plain ones');
  t.notSame(sealed.chunks[0], plain.chunks[0]);
  const object = await fs.readFile(path.join(root, chunkKey(sealed.chunks[0]!)));
  const data = await fs.readFile(image);
  t.equal(object.indexOf(data.subarray(0, 64)), -1, 'the content is not in the object');
  await t.rejects(readManifest(store, 'web', 'a-000000000002', null), { code: 'archive-key', message: /encrypted/ });
  await t.rejects(readManifest(store, 'web', 'a-000000000002', keyFromSecret('other', randomBytes(64))), {
    code: 'archive-key',
    message: /another key/,
  });
  const out = path.join(dir, 'out.img');
  await restore(store, 'a-000000000002', out, key);
  t.ok((await fs.readFile(out)).equals(data), 'with its key, byte for byte');
});

t.test('a manifest that names something qrv never writes is refused, however well it is checksummed', async (t) => {
  const dir = await tmpDir(t);
  const store = await openDirStore(path.join(dir, 'store'), true);
  t.teardown(() => store.close());
  const base = {
    format: 'qrv-generation' as const,
    version: 1 as const,
    id: 'a-000000000001',
    volume: 'web',
    sizeBytes: 4 * MiB,
    chunkSize: DEFAULT_CHUNK_SIZE,
    pointInTime: '2026-12-04T10:00:00.000Z',
    createdAt: '2026-12-04T10:00:00.000Z',
    host: 'h',
    sourceId: 's-1',
    snapshotId: 's-1',
    consistency: 'atomic',
    checksum: 'xxh64-blocks:0000000000000000',
    blockSize: 65536,
    keyId: null,
    chunks: [''],
    stats: {
      bytesRead: 0,
      bytesSent: 0,
      bytesDeduplicated: 0,
      bytesZero: 0,
      chunksSent: 0,
      chunksDeduplicated: 0,
      chunksZero: 1,
      seconds: 0,
    },
  };
  await writeManifest(store, base, null);
  t.equal((await readManifest(store, 'web', base.id, null)).chunks.length, 1, 'a well-formed one is read');
  for (const [why, bad] of [
    ['a chunk name that is a path', { chunks: ['../../etc/passwd'] }],
    ['a chunk size of 0', { chunkSize: 0 }],
    ['a time that is not one', { pointInTime: 'yesterday' }],
  ] as const) {
    await writeManifest(store, { ...base, ...bad } as typeof base, null);
    await t.rejects(readManifest(store, 'web', base.id, null), { code: 'archive-corrupt' }, why);
  }
});
