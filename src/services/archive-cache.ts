// Reading a generation's files (`ls`, `find`, `recover --path`, the browser): the generation's
// image is restored once into the home's cache (<home>/cache/<a-id>.img, sparse: zeros stay
// holes), checked against the image checksum its manifest records, and then read like a
// snapshot's image. The readers (debugfs, a read-only mount) read a file through the kernel, so
// qrv cannot see which blocks they touch: the whole image is fetched, not only what the reader
// needs. The cache is the home's (private, made by qrv): a finished image is marked by a
// <a-id>.json beside it and used again until the generation is removed (`qrv prune` removes its
// cache), or the cache folder is deleted by hand, which is always safe.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readManifest } from '../archive/manifest.ts';
import { restoreGeneration } from '../archive/restore.ts';
import type { ArchiveRow } from '../catalog/schema.ts';
import { checksumImage } from '../copy/block-copy.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { accessGeneration } from './stores.ts';

interface CacheMark {
  id: string;
  checksum: string;
  sizeBytes: number;
}

export function cacheFolder(home: string): string {
  return path.join(home, 'cache');
}

const imageOf = (home: string, id: string): string => path.join(cacheFolder(home), `${id}.img`);
const markOf = (home: string, id: string): string => path.join(cacheFolder(home), `${id}.json`);

/** The cached image of `row` when it is whole (marked, of the right size), else null. */
async function cached(home: string, row: ArchiveRow): Promise<string | null> {
  const mark = await fs
    .readFile(markOf(home, row.id), 'utf8')
    .then((text) => JSON.parse(text) as CacheMark)
    .catch(() => null);
  const image = imageOf(home, row.id);
  const st = await fs.lstat(image).catch(() => null);
  const whole = mark?.id === row.id && mark.checksum === row.checksum && mark.sizeBytes === row.sizeBytes;
  return whole && st?.isFile() && st.size === row.sizeBytes ? image : null;
}

/** Fetches the generation into a new file of the cache, checks it, and moves it into place. */
async function fetchIntoCache(ctx: Context, row: ArchiveRow): Promise<string> {
  const home = ctx.catalog.home;
  await fs.mkdir(cacheFolder(home), { mode: 0o700, recursive: true });
  const temp = `${imageOf(home, row.id)}.tmp-${randomBytes(6).toString('hex')}`;
  const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const access = await accessGeneration(ctx, row.store, row.keyFile, {
    kind: 'shared',
    command: `read files of ${row.id}`,
  });
  const handle = await fs.open(temp, flags, 0o600);
  try {
    const manifest = await readManifest(access.store, row.volume, row.id, access.key, row.manifestDigest);
    if ((row.checksum && row.checksum !== manifest.checksum) || row.sizeBytes !== manifest.sizeBytes)
      throw new QrvError(
        'verify',
        'archive-corrupt',
        `the manifest of ${row.id} in ${access.store.where} names ${manifest.sizeBytes} bytes and checksum ${manifest.checksum}, not the ${row.sizeBytes} and ${String(row.checksum)} recorded when it was sent`,
        'read another generation; the store holds another image under its name',
      );
    const plan = { store: access.store, key: access.key, manifest, handle, target: temp, fresh: true };
    await restoreGeneration({ ...plan, reporter: ctx.reporter });
    const read = await checksumImage(temp, manifest.sizeBytes, { handle, reporter: ctx.reporter });
    if (read !== manifest.checksum)
      throw new QrvError(
        'verify',
        'archive-corrupt',
        `${row.id} restored into the cache reads as ${read}, not ${manifest.checksum}`,
        'run `qrv verify --deep` on it, and read another generation',
      );
    await fs.rename(temp, imageOf(home, row.id));
    const mark: CacheMark = { id: row.id, checksum: manifest.checksum, sizeBytes: manifest.sizeBytes };
    await fs.writeFile(markOf(home, row.id), `${JSON.stringify(mark)}\n`, { mode: 0o600 });
    return imageOf(home, row.id);
  } finally {
    await handle.close();
    await fs.rm(temp, { force: true });
    await access.close();
  }
}

/** The image a reader opens for a generation: from the cache, fetched first when it is not there. */
export async function archiveImage(ctx: Context, row: ArchiveRow): Promise<string> {
  const home = ctx.catalog.home;
  const ready = await cached(home, row);
  if (ready) return ready;
  ctx.reporter.info(`fetching ${row.id} from ${row.store} into ${cacheFolder(home)}`);
  return fetchIntoCache(ctx, row);
}

/** Forgets the cached images of these generations (removed from their store). */
export async function dropCached(home: string, ids: string[]): Promise<void> {
  for (const id of ids) {
    await fs.rm(imageOf(home, id), { force: true });
    await fs.rm(markOf(home, id), { force: true });
  }
}
