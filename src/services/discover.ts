// `qrv discover [--path GLOB]...`: finds image files matching the configured discovery globs
// (fast-glob) and adds the new ones as volumes of the default sub-client. Every command that
// runs jobs calls `rediscover` first, so a new volume is never missed; with no globs it costs
// nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import type { CatalogData, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { fileProvider } from '../providers/file/file-provider.ts';
import { joinDefault } from './subclients.ts';

/** Paths qrv itself made or holds, which are never volumes. */
function ownPaths(data: CatalogData): Set<string> {
  return new Set([
    ...data.volumes.map((v) => v.path),
    ...data.snapshots.map((s) => s.path).filter(Boolean),
    ...data.qrvs.filter((q) => q.state !== 'removed').map((q) => q.destination),
    ...data.pools.flatMap((p) => p.members.map((m) => m.path)),
  ]);
}

/** A volume name from a file name: its stem, with anything else replaced, made unique. */
function nameFor(file: string, taken: (name: string) => boolean): string {
  const stem = path.basename(file).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 56) || 'volume';
  let name = stem;
  for (let n = 2; taken(name); n += 1) name = `${stem}-${n}`;
  return name;
}

export async function rediscover(ctx: Context, extraGlobs: string[] = []): Promise<Volume[]> {
  const before = await ctx.catalog.read();
  const globs = [...new Set([...before.settings.discovery, ...extraGlobs])];
  if (globs.length === 0) return [];
  const found = await fg(globs, { absolute: true, onlyFiles: true, followSymbolicLinks: false, unique: true, suppressErrors: true, ignore: ['**/.qrv-snapshots/**'] });
  const own = ownPaths(before);
  const candidates: { file: string; size: number }[] = [];
  for (const file of found.sort()) {
    const real = await fs.realpath(file).catch(() => file);
    if (own.has(real) || own.has(file)) continue;
    const st = await fs.stat(real).catch(() => null);
    if (st?.isFile() && st.size > 0) candidates.push({ file: real, size: st.size });
  }
  return ctx.catalog.update((data) => {
    data.settings.discovery = globs;
    const added: Volume[] = [];
    const known = ownPaths(data);
    for (const { file, size } of candidates) {
      if (known.has(file)) continue;
      const name = nameFor(file, (n) => data.volumes.some((v) => v.name === n) || data.subclients.some((s) => s.name === n));
      const volume: Volume = { name, provider: fileProvider.name, path: file, options: fileProvider.defaultOptions(file, name), sizeBytes: size, addedAt: ctx.now().toISOString(), policy: null, discovered: true };
      data.volumes.push(volume);
      joinDefault(data, name);
      known.add(file);
      added.push(volume);
    }
    return added;
  });
}

export async function discover(ctx: Context, globs: string[]): Promise<Summary> {
  for (const glob of globs) {
    if (!path.isAbsolute(glob)) throw new QrvError('usage', 'relative-glob', `discovery glob "${glob}" is not absolute`, 'give a full path pattern, e.g. /srv/vm/*.img');
  }
  const added = await rediscover(ctx, globs);
  const { settings } = await ctx.catalog.read();
  if (settings.discovery.length === 0) throw new QrvError('usage', 'no-discovery-globs', 'no discovery globs are configured', 'give one with --path, e.g. qrv discover --path "/srv/vm/*.img"');
  return {
    data: { added, globs: settings.discovery },
    lines: [...added.map((v) => `added volume ${v.name} (${v.path}) to sub-client default`), added.length ? `${added.length} new volume(s)` : 'no new volumes', `discovery globs: ${settings.discovery.join(' ')}`],
  };
}
