// `qrv store add|list|show|remove` (F15): the archive stores generations go to. A store is
// checked when it is added (reachable, private, empty or already a qrv store, which it then
// becomes); credentials are never kept (ssh uses the admin's own configuration and keys, S3 the
// standard environment chain).
import type { ArchiveRow, CatalogData, StoreRow } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { details, table } from '../output/rows.ts';
import { storeHeader } from '../archive/layout.ts';
import { openStore } from '../stores/registry.ts';
import type { ArchiveStore, StoreLocation } from '../stores/store.ts';
import { checkSshOption, parseSshLocation } from '../stores/ssh-store.ts';
import { parseS3Location } from '../stores/s3-store.ts';
import { formatBytes } from '../core/duration.ts';

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

export function locationOf(row: StoreRow): StoreLocation {
  return {
    kind: row.kind,
    location: row.location,
    port: row.port,
    sshOptions: row.sshOptions,
    endpoint: row.endpoint,
    region: row.region,
  };
}

/** Opens the store of `row`, checked to be a qrv archive store; the caller closes it. */
export async function openArchiveStore(row: StoreRow, now: Date, create = false): Promise<ArchiveStore> {
  const store = await openStore(locationOf(row), create);
  try {
    await storeHeader(store, create, now);
    return store;
  } catch (error) {
    await store.close();
    throw error;
  }
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
  const exists = () => {
    throw new QrvError(
      'refused',
      'store-exists',
      `an archive store named "${row.name}" exists already`,
      'choose another name',
    );
  };
  if ((await ctx.catalog.read()).stores.some((s) => s.name === row.name)) exists();
  const store = await openArchiveStore(row, ctx.now(), true);
  const generations = await store.list('generations/').finally(() => store.close());
  await ctx.catalog.update((data) => {
    if (data.stores.some((s) => s.name === row.name)) exists();
    data.stores.push(row);
  });
  return {
    data: { store: row, generations: generations.length },
    lines: [
      `added archive store ${row.name}: ${row.kind} ${row.location}${
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
        'remove them first (qrv remove ID), or keep the store',
      );
    data.stores = data.stores.filter((s) => s.name !== name);
    return found;
  });
  return {
    data: { store: row },
    lines: [`removed archive store ${name} from the catalog (nothing in it was touched)`],
  };
}
