import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { keyFromSecret, type ArchiveKey } from '../../src/archive/key.ts';
import { DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT_SIZE } from '../../src/archive/layout.ts';
import {
  manifestDigest,
  readManifest,
  segmentLocation,
  writeManifest,
  type Manifest,
} from '../../src/archive/manifest.ts';
import { restoreGeneration } from '../../src/archive/restore.ts';
import { readPackIndex } from '../../src/archive/pack.ts';
import { fetchSegment, chunkLocation } from '../../src/archive/segment.ts';
import { sendGeneration } from '../../src/archive/send.ts';
import { checksumImage } from '../../src/copy/block-copy.ts';
import { Reporter } from '../../src/core/events.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';
import type { ArchiveStore } from '../../src/stores/store.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;
const KiB = 1024;

/** A 40 MiB image: 28 MiB of random data, 8 MiB of zeros written, 4 MiB left a hole. */
async function makeImage(file: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  await handle.write(randomBytes(28 * MiB), 0, 28 * MiB, 0);
  await handle.write(Buffer.alloc(8 * MiB), 0, 8 * MiB, 28 * MiB);
  await handle.truncate(40 * MiB);
  await handle.close();
}

/** A folder store and a 40 MiB image (makeImage) in a new folder. */
async function scene(t: Test) {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'web.img');
  await makeImage(image);
  const root = path.join(dir, 'store');
  const store = await openDirStore(root, true);
  t.teardown(() => store.close());
  return { dir, image, root, store };
}

interface SendOptions {
  key?: ArchiveKey | null;
  previous?: Manifest | null;
  resume?: boolean;
  packSize?: number;
}

async function send(store: ArchiveStore, image: string, id: string, options: SendOptions = {}) {
  return sendGeneration({
    store,
    key: options.key ?? null,
    path: image,
    reporter: new Reporter(),
    packSize: options.packSize ?? 16 * MiB,
    previous: options.previous ?? null,
    resume: options.resume ?? false,
    manifest: {
      id,
      volume: 'web',
      sizeBytes: 40 * MiB,
      chunkSize: DEFAULT_CHUNK_SIZE,
      segmentSize: DEFAULT_SEGMENT_SIZE,
      pointInTime: '2026-12-04T10:00:00.000Z',
      createdAt: '2026-12-04T10:00:01.000Z',
      sourceId: 's-1',
      snapshotId: 's-1',
      consistency: 'atomic',
    },
  });
}

async function restore(store: ArchiveStore, id: string, to: string, key: ArchiveKey | null = null) {
  const manifest = await readManifest(store, 'web', id, key);
  const handle = await fs.open(to, 'w+', 0o600);
  try {
    return await restoreGeneration({ store, key, manifest, handle, target: to, fresh: true, reporter: new Reporter() });
  } finally {
    await handle.close();
  }
}

/** Where chunk `j` of segment `i` lies: its pack's file and the range in it. */
async function chunkPlace(store: ArchiveStore, root: string, manifest: Manifest, i: number, j: number) {
  const blob = await fetchSegment(store, segmentLocation(manifest, i)!, manifest.segments[i]![0], {
    key: null,
    chunks: 64,
  });
  const at = chunkLocation(blob, blob.chunks[j]!);
  return { file: path.join(root, at.pack), offset: at.offset, length: at.length };
}

async function flipByte(file: string, at: number): Promise<void> {
  const bytes = await fs.readFile(file);
  bytes[at] = bytes[at]! ^ 0x01;
  await fs.writeFile(file, bytes);
}

t.test('a generation goes to a store and comes back byte for byte; zeros and holes cost nothing', async (t) => {
  const { dir, image, store } = await scene(t);
  const first = await send(store, image, 'a-000000000001');
  t.equal(first.segments.length, 10);
  t.equal(first.segments.filter((s) => s === null).length, 3, 'two segments of written zeros and one hole: nothing');
  t.equal(first.stats.chunksZero, 192, '12 MiB of zeros in 64 KiB chunks');
  t.equal(first.stats.chunksSent, 448);
  t.equal(first.packs.length, 2, '28 MiB in packs of about 16 MiB');
  t.ok(
    first.stats.bytesSent >= 28 * MiB && first.stats.bytesSent < 28 * MiB + 64 * KiB,
    `random data is stored, not inflated (${first.stats.bytesSent - 28 * MiB} bytes of headers and lists)`,
  );
  t.equal(first.checksum, await checksumImage(image, 40 * MiB), 'the checksum the copy engine computes');
  const out = path.join(dir, 'out.img');
  const restored = await restore(store, 'a-000000000001', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'byte for byte');
  t.equal(restored.bytesWritten, 28 * MiB, 'only the data chunks were written');
  t.equal(await checksumImage(out, 40 * MiB), first.checksum);

  // change two 64 KiB blocks, in two segments
  const handle = await fs.open(image, 'r+');
  await handle.write(randomBytes(64 * KiB), 0, 64 * KiB, 5 * MiB);
  await handle.write(randomBytes(64 * KiB), 0, 64 * KiB, 17 * MiB);
  await handle.close();
  const second = await send(store, image, 'a-000000000002', { previous: first });
  t.equal(second.stats.chunksSent, 2, 'only the two changed chunks are sent');
  t.equal(second.stats.chunksDeduplicated, 446);
  t.ok(
    second.stats.bytesSent <= 1.5 * 128 * KiB,
    `at most 1.5 x the changed bytes go out (${second.stats.bytesSent} for 128 KiB)`,
  );
  t.same(
    second.segments.map((s, i) => s?.[0] === first.segments[i]?.[0]),
    [true, false, true, true, false, true, true, true, true, true],
    'the unchanged segments are the same ones',
  );
  await restore(store, 'a-000000000002', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'the second generation, byte for byte');
  await restore(store, 'a-000000000001', out);
  t.equal(await checksumImage(out, 40 * MiB), first.checksum, 'and the first is still whole');
});

t.test('a damaged chunk is found, and nothing of it is written', async (t) => {
  const { dir, image, root, store } = await scene(t);
  const manifest = await send(store, image, 'a-000000000001');
  // chunk 5 of segment 3: random data, kept as it is, so one flipped bit changes its content
  const victim = await chunkPlace(store, root, manifest, 3, 5);
  await flipByte(victim.file, victim.offset + (victim.length >> 1));
  const out = path.join(dir, 'out.img');
  await t.rejects(restore(store, 'a-000000000001', out), {
    code: 'archive-corrupt',
    message: /its content does not match its hash/,
  });
  // where that chunk belongs, the new file holds only zeros (a hole) or ends before
  const written = await fs.readFile(out);
  const start = 3 * DEFAULT_SEGMENT_SIZE + 5 * DEFAULT_CHUNK_SIZE;
  const region = written.subarray(start, start + DEFAULT_CHUNK_SIZE);
  t.ok(
    region.every((byte) => byte === 0),
    `nothing of the damaged chunk was written (${region.length} bytes there)`,
  );
  await store.put('generations/web/a-000000000001', Buffer.from('QRVa garbage'));
  await t.rejects(readManifest(store, 'web', 'a-000000000001', null), { code: 'archive-corrupt' });
});

t.test('an encrypted generation opens only with its key; names do not reveal content', async (t) => {
  const { dir, image, root, store } = await scene(t);
  const key = keyFromSecret('k', randomBytes(64));
  const plain = await send(store, image, 'a-000000000001');
  const sealed = await send(store, image, 'a-000000000002', { key, previous: plain });
  t.equal(sealed.stats.chunksSent, 448, 'sealed chunks have other names: none shared with the plain ones');
  t.notSame(sealed.segments[0]![0], plain.segments[0]![0]);
  const data = await fs.readFile(image);
  for (const pack of sealed.packs) {
    const object = await fs.readFile(path.join(root, pack));
    t.equal(object.indexOf(data.subarray(0, 64)), -1, `the content is not in ${pack}`);
    t.equal(object.indexOf(Buffer.from(plain.segments[0]![0])), -1, 'nor the plain names');
  }
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
    version: 2 as const,
    id: 'a-000000000001',
    volume: 'web',
    sizeBytes: 4 * MiB,
    chunkSize: DEFAULT_CHUNK_SIZE,
    segmentSize: DEFAULT_SEGMENT_SIZE,
    pointInTime: '2026-12-04T10:00:00.000Z',
    createdAt: '2026-12-04T10:00:00.000Z',
    host: 'h',
    sourceId: 's-1',
    snapshotId: 's-1',
    consistency: 'atomic',
    checksum: 'xxh64-blocks:0000000000000000',
    blockSize: 65536,
    keyId: null,
    packs: [] as string[],
    segments: [null] as Manifest['segments'],
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
  t.equal((await readManifest(store, 'web', base.id, null)).segments.length, 1, 'a well-formed one is read');
  const name = 'ab'.repeat(32);
  for (const [why, bad] of [
    ['a pack that is a path', { packs: ['../../etc/passwd'], segments: [[name, 0, 0, 10, []]] }],
    ['a pack index beyond the table', { packs: ['packs/a-000000000001/00000001'], segments: [[name, 1, 0, 10, []]] }],
    [
      'a segment name that is not a hash',
      { packs: ['packs/a-000000000001/00000001'], segments: [['x', 0, 0, 10, []]] },
    ],
    ['segments that do not cover the image', { segments: [null, null] }],
    ['a chunk size of 0', { chunkSize: 0 }],
    ['a time that is not one', { pointInTime: 'yesterday' }],
  ] as const) {
    await writeManifest(store, { ...base, ...bad } as typeof base, null);
    await t.rejects(readManifest(store, 'web', base.id, null), { code: 'archive-corrupt' }, why);
  }
});

t.test('a send stopped midway is resumed: what arrived is not sent again', async (t) => {
  const { dir, image, store } = await scene(t);
  // a store that fails the seventh put, as a link that goes down would
  let puts = 0;
  const failing: ArchiveStore = Object.create(store) as ArchiveStore;
  failing.put = async (key, data) => {
    if (++puts === 7) throw new Error('the link went down');
    return store.put(key, data);
  };
  await t.rejects(send(failing, image, 'a-000000000001', { packSize: MiB }), /the link went down/);
  const arrived = await store.list('packs/a-000000000001/');
  t.ok(arrived.length >= 6, `${arrived.length} packs arrived before the failure`);
  t.equal(await store.size('generations/web/a-000000000001'), null, 'and no manifest');
  const resumed = await send(store, image, 'a-000000000001', { packSize: MiB, resume: true });
  const after = await store.list('packs/a-000000000001/');
  t.ok(
    arrived.every((a) => after.some((b) => b.key === a.key && b.size === a.size)),
    'the packs that arrived are kept as they were',
  );
  let inArrived = 0;
  for (const pack of arrived)
    inArrived += (await readPackIndex(store, pack.key, pack.size, null)).filter((e) => e.kind === 'chunk').length;
  t.equal(resumed.stats.chunksSent + resumed.stats.chunksDeduplicated, 448, 'every data chunk is accounted for');
  t.equal(
    resumed.stats.chunksDeduplicated,
    inArrived,
    `the ${inArrived} chunks in the ${arrived.length} packs that arrived are not sent again`,
  );
  const out = path.join(dir, 'out.img');
  await restore(store, 'a-000000000001', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'the resumed generation, byte for byte');
});

t.test('a previous generation that is damaged costs the next one bytes, not its data', async (t) => {
  const { dir, image, root, store } = await scene(t);
  const first = await send(store, image, 'a-000000000001');
  // the blob of segment 1 is damaged, and the image changes in that segment
  const location = segmentLocation(first, 1)!;
  await flipByte(path.join(root, location.pack), location.offset + 20);
  const handle = await fs.open(image, 'r+');
  await handle.write(randomBytes(64 * KiB), 0, 64 * KiB, 5 * MiB);
  await handle.close();
  const second = await send(store, image, 'a-000000000002', { previous: first });
  t.equal(second.stats.chunksSent, 64, 'the changed segment is sent whole: its old list could not be read');
  const out = path.join(dir, 'out.img');
  await restore(store, 'a-000000000002', out);
  t.ok((await fs.readFile(out)).equals(await fs.readFile(image)), 'the new generation is whole');
  await t.rejects(restore(store, 'a-000000000001', out), { code: 'archive-corrupt' }, 'the damaged one says so');
});

t.test('a manifest read with the digest the catalog recorded must be the very one sent', async (t) => {
  const { image, store } = await scene(t);
  const sent = await send(store, image, 'a-000000000001');
  const digest = manifestDigest(sent);
  t.same((await readManifest(store, 'web', sent.id, null, digest)).segments, sent.segments, 'the one sent is read');
  // the store's owner writes another, well-formed manifest under the id: another image's lists
  const forged = { ...sent, segments: [...sent.segments].reverse(), checksum: sent.checksum };
  await writeManifest(store, forged, null);
  t.ok(await readManifest(store, 'web', sent.id, null), 'alone, the forgery is well formed');
  await t.rejects(readManifest(store, 'web', sent.id, null, digest), {
    code: 'archive-corrupt',
    message: /it is not the manifest sent/,
  });
});
