// `qrv ls ID[:PATH]` and `qrv find ID GLOB...` (F11): the files inside a snapshot, QRV or archive
// generation (fetched into the home's cache first: archive-cache.ts), read without changing
// anything (src/browse/). Instead of an id, `--volume V --as-of T` names the copy
// `qrv resolve` would choose.
import { checkVia, splitTarget } from './arguments.ts';
import type { ArchiveRow, CatalogData } from '../catalog/schema.ts';
import { archiveImage } from './archive-cache.ts';
import { QrvError } from '../core/errors.ts';
import { idKind } from '../core/ids.ts';
import { parseTime } from '../core/time.ts';
import type { Context } from '../engine/context.ts';
import { findQrv, findSnapshot, findVolume, readyQrv } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { findEntries } from '../browse/find.ts';
import { entryJson, longLines } from '../browse/format.ts';
import { withReader, type Via } from '../browse/open.ts';
import type { FilesystemReader, FsEntry } from '../browse/types.ts';
import { nothingAtTime, resolveAt, type CopyKind } from './resolve.ts';

export interface SourceRequest {
  /** a snapshot or QRV id */
  id?: string;
  volume?: string;
  asOf?: string;
  via?: Via;
}

export interface BrowseSource {
  id: string;
  kind: CopyKind;
  volume: string;
  /** the image file or device holding the filesystem ("" for a generation: see readablePath) */
  path: string;
  /** a generation: its image is fetched into the cache first */
  archive?: ArchiveRow;
  /** the time whose state it holds */
  pointInTime: string | null;
  /** with --as-of: the time asked for */
  asOf?: string;
}

/** The id a request names: its own, or the one `qrv resolve` chooses for --volume and --as-of. */
function requestedId(data: CatalogData, request: SourceRequest, now: Date): { id: string; asOf?: string } {
  if (request.id !== undefined) {
    if (request.volume !== undefined || request.asOf !== undefined)
      throw new QrvError(
        'usage',
        'usage',
        `give either an id (${request.id}) or --volume/--as-of, not both`,
        '--volume V --as-of T stands in place of the id',
      );
    return { id: request.id };
  }
  if (request.volume === undefined)
    throw new QrvError(
      'usage',
      'usage',
      'name a snapshot or QRV id, or give --volume (with --as-of)',
      'e.g. `qrv ls s-1a2b3c4d5e6f:/etc` or `qrv ls --volume web --as-of "2h ago" /etc`',
    );
  findVolume(data, request.volume);
  const at = parseTime(request.asOf ?? 'now', now, '--as-of');
  const resolution = resolveAt(data, request.volume, at);
  if (!resolution.chosen) throw nothingAtTime(resolution);
  return { id: resolution.chosen.id, asOf: resolution.asOf };
}

/** A ready snapshot; a removed one names what holds its point in time now. */
function snapshotSource(data: CatalogData, id: string): Omit<BrowseSource, 'asOf'> {
  const snapshot = findSnapshot(data, id);
  if (snapshot.state === 'removed') {
    const copy = data.qrvs.find((q) => q.snapshotId === id && q.state === 'ready');
    throw new QrvError(
      'refused',
      'snapshot-removed',
      `snapshot ${id} was removed${snapshot.removedAt ? ` at ${snapshot.removedAt}` : ''}`,
      copy
        ? `QRV ${copy.id} holds the same point in time: \`qrv ls ${copy.id}\``
        : `\`qrv resolve ${snapshot.volume} --as-of ${snapshot.createdAt}\` names what is left from then`,
    );
  }
  if (snapshot.state !== 'ready')
    throw new QrvError(
      'refused',
      'snapshot-not-ready',
      `snapshot ${id} is ${snapshot.state}, not ready`,
      'pick a ready snapshot from `qrv list`',
    );
  return { id, kind: 'snapshot', volume: snapshot.volume, path: snapshot.path, pointInTime: snapshot.createdAt };
}

function qrvSource(data: CatalogData, id: string): Omit<BrowseSource, 'asOf'> {
  const found = findQrv(data, id);
  const qrv = readyQrv(
    data,
    id,
    found.state === 'copying' ? 'wait for its copy to finish, or browse the snapshot it is copied from' : undefined,
  );
  const pointInTime = data.snapshots.find((s) => s.id === qrv.snapshotId)?.createdAt ?? null;
  return { id, kind: 'qrv', volume: qrv.volume, path: qrv.destination, pointInTime };
}

function archiveSource(data: CatalogData, id: string): Omit<BrowseSource, 'asOf'> {
  const row = data.archives.find((a) => a.id === id);
  if (!row) throw new QrvError('notFound', 'unknown-archive', `no archive generation ${id}`, 'see `qrv list`');
  if (row.state !== 'ready')
    throw new QrvError(
      'refused',
      'archive-not-ready',
      `archive generation ${id} is ${row.state}; only a ready one can be read`,
      'pick a ready one from `qrv list`',
    );
  const { volume, pointInTime } = row;
  return { id, kind: 'archive', volume, path: '', archive: row, pointInTime };
}

const SOURCES = { s: snapshotSource, q: qrvSource, a: archiveSource } as const;

/** The snapshot or QRV a browse command reads, checked to be readable; pure but for the clock. */
export function browseSource(data: CatalogData, request: SourceRequest, now: Date): BrowseSource {
  checkVia(request.via);
  const { id, asOf } = requestedId(data, request, now);
  const kind = idKind(id);
  if (kind === 's' || kind === 'q' || kind === 'a') return { ...SOURCES[kind](data, id), ...(asOf ? { asOf } : {}) };
  throw new QrvError(
    'notFound',
    'unknown-id',
    `"${id}" is not a snapshot, QRV or archive generation id`,
    'ids look like s-1a2b3c4d5e6f (snapshot) or q-1a2b3c4d5e6f (QRV); see `qrv list`',
  );
}

/** The image or device a reader opens for `source`: a generation's is fetched into the cache first. */
export async function readablePath(ctx: Context, source: BrowseSource): Promise<string> {
  return source.archive ? archiveImage(ctx, source.archive) : source.path;
}

function sourceData(source: BrowseSource, reader: FilesystemReader): Record<string, unknown> {
  const { archive: _archive, ...rest } = source;
  return { ...rest, fsType: reader.fsType, method: reader.method };
}

function header(source: BrowseSource, reader: FilesystemReader): string {
  const when = source.pointInTime ? ` (${source.pointInTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})` : '';
  const asked = source.asOf ? `, chosen for ${source.asOf.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}` : '';
  return `${source.id}${when} of ${source.volume}${asked}: ${reader.fsType}, read by ${reader.method === 'debugfs' ? 'debugfs (catalog mode)' : 'a read-only mount'}`;
}

export { checkVia, splitTarget };

export interface LsRequest extends SourceRequest {
  path: string;
  long: boolean;
}

export async function ls(ctx: Context, request: LsRequest): Promise<Summary> {
  const source = browseSource(await ctx.catalog.read(), request, ctx.now());
  const image = await readablePath(ctx, source);
  return withReader(image, { label: source.id, ...(request.via ? { via: request.via } : {}) }, async (reader) => {
    const top = await reader.stat(request.path);
    // A folder (or a symlink to one, as ls follows it) lists its entries; anything else is shown itself.
    let entries: FsEntry[];
    if (
      top.type === 'dir' ||
      (top.type === 'symlink' &&
        (await reader.stat(`${request.path}/.`).then(
          (e) => e.type === 'dir',
          () => false,
        )))
    )
      entries = await reader.list(request.path);
    else entries = [top];
    const lines = request.long ? longLines(entries) : entries.map((e) => e.name);
    return {
      data: { source: sourceData(source, reader), path: top.path, entries: entries.map(entryJson) },
      lines: [header(source, reader), ...(lines.length ? lines : [`(${top.path} is empty)`])],
    };
  });
}

export interface FindRequest extends SourceRequest {
  patterns: string[];
  long: boolean;
  dot: boolean;
}

export async function find(ctx: Context, request: FindRequest): Promise<Summary> {
  const source = browseSource(await ctx.catalog.read(), request, ctx.now());
  if (!request.patterns.length)
    throw new QrvError(
      'usage',
      'usage',
      'qrv find needs at least one pattern',
      "e.g. qrv find s-1a2b3c4d5e6f '**/*.conf' 'etc/**'",
    );
  const image = await readablePath(ctx, source);
  return withReader(image, { label: source.id, ...(request.via ? { via: request.via } : {}) }, async (reader) => {
    const entries = await findEntries(reader, request.patterns, { dot: request.dot });
    const lines = request.long ? longLines(entries, (e) => e.path) : entries.map((e) => e.path);
    return {
      data: { source: sourceData(source, reader), patterns: request.patterns, entries: entries.map(entryJson) },
      lines: [header(source, reader), ...(lines.length ? lines : [`nothing matches ${request.patterns.join(' ')}`])],
    };
  });
}
