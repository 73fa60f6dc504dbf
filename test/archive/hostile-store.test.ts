// What a hostile store can hand qrv (a store on someone else's server or bucket): nothing it holds
// may make qrv allocate without bound, read outside the store, or restore wrong data silently.
// A real generation is sent to a folder store, then the store's objects are rewritten as an
// attacker would: every rewrite below is self-consistent (a manifest's own SHA-256 recomputed,
// segment names kept), so only qrv's limits stand in the way.
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { encodeObject } from '../../src/archive/codec.ts';
import { DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT_SIZE, STORE_FILE, storeHeader } from '../../src/archive/layout.ts';
import { readManifest, segmentLocation, writeManifest, type Manifest } from '../../src/archive/manifest.ts';
import { restoreGeneration } from '../../src/archive/restore.ts';
import { fetchSegment, type SegmentBlob } from '../../src/archive/segment.ts';
import { sendGeneration } from '../../src/archive/send.ts';
import { Catalog } from '../../src/catalog/store.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { archiveImage, cacheFolder } from '../../src/services/archive-cache.ts';
import { verifyArchive } from '../../src/services/verify-archive.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';
import type { ArchiveStore } from '../../src/stores/store.ts';
import { archiveRow } from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;
const ID = 'a-000000000001';
const HOSTILE_PACK = `packs/${ID}/00000099`;

const planManifest = {
  id: ID,
  volume: 'web',
  sizeBytes: 8 * MiB,
  chunkSize: DEFAULT_CHUNK_SIZE,
  segmentSize: DEFAULT_SEGMENT_SIZE,
  pointInTime: '2026-12-04T10:00:00.000Z',
  createdAt: '2026-12-04T10:00:01.000Z',
  sourceId: 's-1',
  snapshotId: 's-1',
  consistency: 'atomic',
};

const sendPlan = (store: ArchiveStore, image: string) => ({
  store,
  key: null,
  path: image,
  reporter: new Reporter(),
  packSize: 16 * MiB,
  previous: null,
  resume: false,
});

/** A folder store holding one generation of an 8 MiB image of text (compressible: brotli is used). */
async function scene(t: Test) {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'web.img');
  const line = (n: number) => `line ${n} of the web volume, some text that compresses\n`;
  let text = '';
  for (let n = 0; text.length < 8 * MiB; n++) text += line(n);
  await fs.writeFile(image, text.slice(0, 8 * MiB));
  const store = await openDirStore(path.join(dir, 'store'), true);
  t.teardown(() => store.close());
  const manifest = await sendGeneration({ ...sendPlan(store, image), manifest: planManifest });
  return { dir, store, manifest };
}

/**
 * The attacker's edit: segment `i`'s list rewritten by `edit` (its chunks' names, hence its own
 * name, unchanged) into a new pack after `lead`, and the manifest pointed at it.
 */
async function rewriteSegment(
  store: ArchiveStore,
  manifest: Manifest,
  i: number,
  edit: (blob: SegmentBlob, pack: number) => void,
  lead: Buffer = Buffer.alloc(0),
): Promise<Manifest> {
  const name = manifest.segments[i]![0];
  const blob = await fetchSegment(store, segmentLocation(manifest, i)!, name, { key: null, chunks: 64 });
  blob.packs.push(HOSTILE_PACK);
  edit(blob, blob.packs.length - 1);
  const object = await encodeObject('segment', name, Buffer.from(JSON.stringify(blob)), null);
  await store.put(HOSTILE_PACK, Buffer.concat([lead, object]));
  const pack = manifest.packs.length;
  const segments = manifest.segments.slice();
  const [, , , , chunkPacks] = segments[i]!;
  segments[i] = [name, pack, lead.length, object.length, [...chunkPacks, pack]];
  const hostile = { ...manifest, packs: [...manifest.packs, HOSTILE_PACK], segments };
  await writeManifest(store, hostile, null);
  return hostile;
}

async function restore(dir: string, store: ArchiveStore, manifest: Manifest) {
  const target = path.join(dir, 'out.img');
  const handle = await fs.open(target, 'w+', 0o600);
  try {
    const plan = { store, key: null, handle, target, fresh: true, reporter: new Reporter() };
    return await restoreGeneration({ ...plan, manifest });
  } finally {
    await handle.close();
  }
}

/** A chunk object of a few KiB that brotli inflates to `bytes` of zeros. */
async function brotliBomb(bytes: number): Promise<Buffer> {
  const zeros = Buffer.alloc(16 * MiB);
  const parts: Buffer[] = [];
  const stream = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
  stream.on('data', (data: Buffer) => parts.push(data));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  for (let at = 0; at < bytes; at += zeros.length) stream.write(zeros);
  stream.end();
  await ended;
  const header = Buffer.alloc(16);
  header.write('QRVa');
  header[4] = 1; // a chunk
  header[5] = 1; // brotli
  return Buffer.concat([header, ...parts]);
}

t.test('a chunk that inflates to 64 MiB (a brotli bomb of a few KiB) is refused at the largest chunk', async (t) => {
  const { dir, store, manifest } = await scene(t);
  const bomb = await brotliBomb(64 * MiB);
  t.ok(bomb.length < 64 * 1024, `the bomb is ${bomb.length} bytes`);
  const hostile = await rewriteSegment(
    store,
    manifest,
    0,
    (blob, pack) => (blob.chunks[0] = [blob.chunks[0]![0], pack, 0, bomb.length]),
    bomb,
  );
  const started = Date.now();
  await t.rejects(restore(dir, store, hostile), {
    code: 'archive-corrupt',
    message: /decompresses to more than 16777216 bytes/,
  });
  t.ok(Date.now() - started < 5000, `refused in ${Date.now() - started} ms, not after inflating it`);
});

t.test('a chunk place of 3 GiB in a segment list is refused before anything is fetched', async (t) => {
  const { dir, store, manifest } = await scene(t);
  const hostile = await rewriteSegment(store, manifest, 1, (blob) => {
    const [name, pack, offset] = blob.chunks[5]!;
    blob.chunks[5] = [name, pack, offset, 3 * 1024 * MiB];
  });
  await t.rejects(restore(dir, store, hostile), { code: 'archive-corrupt', message: /not what qrv writes/ });
});

t.test('a manifest naming a 512 MiB segment list or 2 GiB chunks is refused when it is read', async (t) => {
  const { store, manifest } = await scene(t);
  const [name, pack, offset, , chunkPacks] = manifest.segments[0]!;
  const segments = [[name, pack, offset, 512 * MiB, chunkPacks], ...manifest.segments.slice(1)];
  await writeManifest(store, { ...manifest, segments } as Manifest, null);
  await t.rejects(readManifest(store, 'web', ID, null), { code: 'archive-corrupt', message: /not what qrv writes/ });
  const huge = { ...manifest, chunkSize: 2048 * MiB, segmentSize: 2048 * MiB, segments: [manifest.segments[0]!] };
  await writeManifest(store, huge, null);
  await t.rejects(readManifest(store, 'web', ID, null), { code: 'archive-corrupt', message: /not what qrv writes/ });
});

t.test('a store header naming chunks of 16 GiB is not a store qrv uses', async (t) => {
  const store = await openDirStore(path.join(await tmpDir(t), 'store'), true);
  t.teardown(() => store.close());
  const header = await storeHeader(store, {}, new Date());
  await store.put(
    STORE_FILE,
    Buffer.from(JSON.stringify({ ...header, chunkSize: 16384 * MiB, segmentSize: 16384 * MiB })),
  );
  await t.rejects(storeHeader(store, null, new Date()), { code: 'store-foreign' });
});

t.test(
  "another image the store holds under a generation's id: its files are not read, and verify finds it",
  async (t) => {
    const { dir, manifest } = await scene(t);
    // the store's owner replaces it with a generation of another image, under the same id
    const other = path.join(dir, 'other.img');
    await fs.writeFile(other, Buffer.alloc(8 * MiB, 'another volume '));
    const forged = path.join(dir, 'forged');
    const store = await openDirStore(forged, true);
    await storeHeader(store, {}, new Date());
    await sendGeneration({ ...sendPlan(store, other), manifest: { ...planManifest, id: ID } });
    await store.close();
    const catalog = await Catalog.open(path.join(dir, 'home'));
    const row = archiveRow('web', manifest.pointInTime, { sizeBytes: 8 * MiB, checksum: manifest.checksum });
    await catalog.update((data) => {
      data.stores.push({
        name: 'vault',
        kind: 'dir',
        location: forged,
        port: null,
        sshOptions: [],
        endpoint: null,
        region: null,
        addedAt: manifest.createdAt,
      });
      data.archives.push(row);
    });
    const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date('2026-12-04T12:00:00Z') };
    await t.rejects(archiveImage(ctx, row), {
      code: 'archive-corrupt',
      message: /names 8388608 bytes and checksum \S+, not the 8388608 and xxh64-blocks:\S+ recorded when it was sent/,
    });
    t.same(await fs.readdir(cacheFolder(catalog.home)), [], 'nothing is left in the cache');
    for (const deep of [false, true]) {
      const verified = await verifyArchive(ctx, { id: ID, deep });
      t.equal(verified.exit, 'verify', `verify${deep ? ' --deep' : ''} fails`);
      t.match(
        verified.lines[0],
        /^damaged: \(the manifest names 8388608 bytes and \S+, not the 8388608 and xxh64-blocks:/,
      );
    }
  },
);
