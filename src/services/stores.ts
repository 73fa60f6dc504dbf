// `qrv store add|list|show|remove` (F15): the archive stores generations go to. A store is
// checked when it is added (reachable, private, empty or already a qrv store, which it then
// becomes); credentials are never kept (ssh uses the admin's own configuration and keys, S3 the
// standard environment chain).
import { consistencySchema, type ArchiveRow, type CatalogData, type StoreRow } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { details, short, table } from '../output/rows.ts';
import { storeHeader, type StoreHeader } from '../archive/layout.ts';
import { loadKey, type ArchiveKey } from '../archive/key.ts';
import {
  acquireStoreLock,
  describeLock,
  listStoreLocks,
  removeStaleLocks,
  removeStoreLock,
  type StoreLockHandle,
  type StoreLockKind,
} from '../archive/store-lock.ts';
import { chunkCount, manifestDigest, storedManifests, type Manifest } from '../archive/manifest.ts';

import { openStore } from '../stores/registry.ts';
import type { ArchiveStore } from '../stores/store.ts';
import { checkSshOption, parseSshLocation } from '../stores/ssh-store.ts';
import { parseS3Location } from '../stores/s3-store.ts';
import { formatBytes } from '../core/duration.ts';
import { parseSize } from '../pools/capacity.ts';
import { compareText } from '../core/text.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface AddStoreRequest {
  name: string;
  dir?: string;
  ssh?: string;
  s3?: string;
  port?: number;
  sshOptions?: string[];
  endpoint?: string;
  region?: string;
  /** the size packs are put at, e.g. "16M" (only for a store that is made now) */
  packSize?: string;
}

const MIN_PACK = 1024 * 1024;
const MAX_PACK = 1024 * 1024 * 1024;

function packSizeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const size = parseSize(text, '--pack-size');
  if (size < MIN_PACK || size > MAX_PACK)
    throw new QrvError('usage', 'bad-size', `--pack-size ${text} is not between 1M and 1G`, 'the default is 16M');
  return size;
}

export function findStore(data: CatalogData, name: string): StoreRow {
  const row = data.stores.find((s) => s.name === name);
  if (!row)
    throw new QrvError(
      'notFound',
      'unknown-store',
      `no archive store named "${name}"`,
      'see them with `qrv store list`, or add one with `qrv store add`',
    );
  return row;
}

/** Opens the store of `row` (its location and options), checked to be a qrv archive store; the caller closes it. */
export async function openArchiveStore(
  row: StoreRow,
  now: Date,
  create: { packSize?: number } | null = null,
): Promise<{ store: ArchiveStore; header: StoreHeader }> {
  const store = await openStore(row, create !== null);
  try {
    return { store, header: await storeHeader(store, create, now) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** What sending, restoring or checking a generation needs; the caller closes `store`. */
export interface GenerationAccess {
  store: ArchiveStore;
  /** the store's header: its chunk, segment and pack sizes */
  header: StoreHeader;
  /** the generation's key, or null when it is not sealed */
  key: ArchiveKey | null;
  /** the lock taken on the store, or null */
  lock: StoreLockHandle | null;
  /** releases the lock and closes the store */
  close(): Promise<void>;
}

/**
 * The key first (a bad key file fails before anything is reached), then the store named `name`,
 * then a lock on it (`shared` to send, read or check generations; `exclusive` to remove data);
 * the caller calls close().
 */
export async function accessGeneration(
  ctx: Context,
  name: string,
  keyFile: string | null,
  lock: { kind: StoreLockKind; command: string } | null,
): Promise<GenerationAccess> {
  const key = keyFile ? await loadKey(keyFile) : null;
  const { store, header } = await openArchiveStore(findStore(await ctx.catalog.read(), name), ctx.now());
  let held: StoreLockHandle | null = null;
  try {
    if (lock) held = await acquireStoreLock(store, lock.kind, { command: lock.command, storeName: name });
  } catch (error) {
    await store.close();
    throw error;
  }
  for (const other of held?.ignored ?? [])
    ctx.reporter.warn(
      `passed over in ${name}: ${describeLock(other, new Date())} (\`qrv store unlock ${name}\` removes it)`,
    );
  const close = async () => {
    try {
      await held?.release();
    } finally {
      await store.close();
    }
  };
  return { store, header, key, lock: held, close };
}

function rowOf(request: AddStoreRequest, addedAt: string): StoreRow {
  const given = (['dir', 'ssh', 's3'] as const).filter((kind) => request[kind] !== undefined);
  if (given.length !== 1)
    throw new QrvError(
      'usage',
      'bad-store',
      'give one of --dir PATH, --ssh [user@]host:/path or --s3 s3://bucket/prefix',
    );
  const kind = given[0]!;
  const location = request[kind]!;
  if (kind === 'ssh') parseSshLocation(location);
  if (kind === 's3') parseS3Location(location);
  const misplaced = [
    kind !== 'ssh' && (request.port !== undefined || request.sshOptions?.length) ? '--port and --ssh-option' : null,
    kind !== 's3' && (request.endpoint !== undefined || request.region !== undefined)
      ? '--endpoint and --region'
      : null,
  ].filter(Boolean);
  if (misplaced.length)
    throw new QrvError(
      'usage',
      'bad-store',
      `${misplaced.join(', ')} are for ${misplaced[0]!.startsWith('--port') ? 'ssh' : 's3'} stores only`,
    );
  if (kind === 'dir' && !location.startsWith('/'))
    throw new QrvError('usage', 'bad-store', `--dir needs an absolute path, not ${location}`);
  return {
    name: request.name,
    kind,
    location,
    port: request.port ?? null,
    sshOptions: (request.sshOptions ?? []).map(checkSshOption),
    endpoint: request.endpoint ?? null,
    region: request.region ?? null,
    addedAt,
  };
}

export async function addStore(ctx: Context, request: AddStoreRequest): Promise<Summary> {
  if (!NAME.test(request.name))
    throw new QrvError(
      'usage',
      'bad-store',
      `store name "${request.name}" is not allowed`,
      'use letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit',
    );
  const row = rowOf(request, ctx.now().toISOString());
  const packSize = packSizeOf(request.packSize);
  const exists = () => {
    throw new QrvError(
      'refused',
      'store-exists',
      `an archive store named "${row.name}" exists already`,
      'choose another name',
    );
  };
  if ((await ctx.catalog.read()).stores.some((s) => s.name === row.name)) exists();
  const { store, header } = await openArchiveStore(row, ctx.now(), { packSize });
  const generations = await store.list('generations/').finally(() => store.close());
  await ctx.catalog.update((data) => {
    if (data.stores.some((s) => s.name === row.name)) exists();
    data.stores.push(row);
  });
  if (packSize !== undefined && packSize !== header.packSize)
    ctx.reporter.warn(
      `${row.location} was a qrv store already, with packs of ${formatBytes(header.packSize)}: --pack-size is not applied`,
    );
  return {
    data: { store: row, generations: generations.length, header },
    lines: [
      `added archive store ${row.name}: ${row.kind} ${row.location}, packs of ${formatBytes(header.packSize)}${
        generations.length
          ? ` (it holds ${generations.length} generations: \`qrv store scan ${row.name}\` lists them)`
          : ''
      }`,
    ],
  };
}

function archivesIn(data: CatalogData, name: string): ArchiveRow[] {
  return data.archives.filter((a) => a.store === name && a.state !== 'removed');
}

export async function listStores(ctx: Context): Promise<Summary> {
  const data = await ctx.catalog.read();
  const rows = data.stores.map((s) => {
    const archives = archivesIn(data, s.name);
    return [
      s.name,
      s.kind,
      s.location,
      String(archives.length),
      formatBytes(archives.reduce((n, a) => n + a.bytesSent, 0)),
    ];
  });
  return {
    data: { stores: data.stores },
    lines: rows.length ? table(['NAME', 'KIND', 'LOCATION', 'GENERATIONS', 'SENT'], rows) : ['no archive stores'],
  };
}

export async function showStore(ctx: Context, name: string): Promise<Summary> {
  const data = await ctx.catalog.read();
  const row = findStore(data, name);
  const archives = archivesIn(data, name);
  return {
    data: { store: row, archives },
    lines: [
      ...details(row),
      `generations: ${archives.length}${archives.length ? ` (${archives.map((a) => a.id).join(', ')})` : ''}`,
    ],
  };
}

export async function removeStore(ctx: Context, name: string): Promise<Summary> {
  const row = await ctx.catalog.update((data) => {
    const found = findStore(data, name);
    const held = archivesIn(data, name);
    if (held.length)
      throw new QrvError(
        'refused',
        'store-in-use',
        `archive store "${name}" holds ${held.length} generation(s) qrv knows of: ${held.map((a) => a.id).join(', ')}`,
        'keep the store: qrv does not remove archive generations yet',
      );
    data.stores = data.stores.filter((s) => s.name !== name);
    return found;
  });
  return {
    data: { store: row },
    lines: [`removed archive store ${name} from the catalog (nothing in it was touched)`],
  };
}

export interface ScanRequest {
  name: string;
  /** add the generations the catalog does not know as rows */
  import: boolean;
  /** the key file sealed generations were sent with */
  key?: string;
}

/** A generation's row as its manifest describes it (a catalog that lost it, or never had it). */
function importedRow(m: Manifest, store: string, keyFile: string | null): ArchiveRow {
  return {
    id: m.id,
    volume: m.volume,
    store,
    sourceId: m.sourceId,
    snapshotId: m.snapshotId,
    pointInTime: m.pointInTime,
    consistency: consistencySchema.options.includes(m.consistency as never)
      ? (m.consistency as ArchiveRow['consistency'])
      : 'unknown',
    state: 'ready',
    sizeBytes: m.sizeBytes,
    chunkSize: m.chunkSize,
    chunks: chunkCount(m),
    keyFile,
    checksum: m.checksum,
    bytesRead: m.stats.bytesRead,
    bytesSent: m.stats.bytesSent,
    bytesDeduplicated: m.stats.bytesDeduplicated,
    bytesZero: m.stats.bytesZero,
    seconds: m.stats.seconds,
    createdAt: m.createdAt,
    finishedAt: m.createdAt,
    removedAt: null,
    jobId: '',
    lastVerify: null,
    // as found in the store when it was imported: later reads must give the same manifest
    manifestDigest: manifestDigest(m),
  };
}

/**
 * `qrv store scan NAME [--import] [--key FILE]`: the generations a store holds, read from their
 * manifests (each one checked); with --import, those the catalog does not know become rows, so
 * that a host that lost its catalog can still recover from its archives.
 */
export async function scanStore(ctx: Context, request: ScanRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const row = findStore(data, request.name);
  const { store, key, close } = await accessGeneration(ctx, row.name, request.key ?? null, null);
  const { found, unreadable } = await storedManifests(store, [key]).finally(close);
  found.sort((a, b) => compareText(a.volume, b.volume) || compareText(a.pointInTime, b.pointInTime));
  const known = new Set(data.archives.map((a) => a.id));
  const added = request.import
    ? found.filter((m) => !known.has(m.id)).map((m) => importedRow(m, row.name, request.key ?? null))
    : [];
  if (added.length)
    await ctx.catalog.update((catalog) => {
      const ids = new Set(catalog.archives.map((a) => a.id));
      catalog.archives.push(...added.filter((a) => !ids.has(a.id)));
    });
  for (const line of unreadable) ctx.reporter.warn(`cannot read generation ${line}`);
  const rows = found.map((m) => [
    m.id,
    m.volume,
    short(m.pointInTime),
    formatBytes(m.sizeBytes),
    String(chunkCount(m)),
    known.has(m.id) ? 'known' : request.import ? 'imported' : 'not in the catalog',
  ]);
  return {
    data: {
      store: row.name,
      generations: found.map(({ packs: _packs, segments: _segments, ...m }) => m),
      imported: added.map((a) => a.id),
      unreadable,
    },
    lines: [
      ...(rows.length
        ? table(['GENERATION', 'VOLUME', 'POINT IN TIME', 'SIZE', 'CHUNKS', 'CATALOG'], rows)
        : [`no generations in ${row.name}`]),
      ...(request.import ? [`imported ${added.length} generation(s) into the catalog`] : []),
    ],
    ...(unreadable.length ? { exit: 'partial' as const } : {}),
  };
}

/**
 * `qrv store unlock NAME [LOCK]`: removes the store's stale locks (a holder gone from this host,
 * or not refreshed for 30 minutes), or the lock LOCK whatever it is (one the admin knows to be
 * gone: a host that died), and lists those left.
 */
export async function unlockStore(ctx: Context, name: string, lockId?: string): Promise<Summary> {
  const { store, close } = await accessGeneration(ctx, name, null, null);
  const now = new Date();
  try {
    const removed = lockId
      ? (await listStoreLocks(store)).filter((entry) => entry.id === lockId)
      : await removeStaleLocks(store);
    if (lockId) {
      if (removed.length === 0)
        throw new QrvError(
          'notFound',
          'unknown-lock',
          `no lock ${lockId} in ${name}`,
          'see them with `qrv store unlock NAME`',
        );
      await removeStoreLock(store, lockId);
    }
    const left = await listStoreLocks(store);
    return {
      data: { store: name, removed: removed.map((e) => e.id), locks: left },
      lines: [
        ...removed.map((e) => `removed ${e.id}: ${describeLock(e, now)}${e.stale ? ` — ${e.stale}` : ''}`),
        ...left.map((e) => `left ${e.id}: ${describeLock(e, now)}`),
        left.length ? `${left.length} lock(s) left in ${name}` : `no locks left in ${name}`,
      ],
    };
  } finally {
    await close();
  }
}
