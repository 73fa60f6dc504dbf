// `qrv discover [--path GLOB]... [--lvm VG[/LV]]...`: finds image files matching the configured
// discovery globs (fast-glob) and logical volumes matching the configured `lvm:` selectors (the
// lvm provider's report), and adds the new ones as volumes of the default sub-client. Every
// command that runs jobs calls `rediscover` first, so a new volume is never missed; with no
// globs it costs nothing.
import fs from 'node:fs/promises';
import { notAnImage } from '../providers/file/image-check.ts';
import path from 'node:path';
import type { CatalogData, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { fileProvider } from '../providers/file/file-provider.ts';
import type { Provider } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import { joinDefault } from './subclients.ts';

/**
 * Paths discovery never adds: what qrv itself made or holds, retired primaries, and the paths of
 * volumes removed with `qrv volume remove` while globs were set (settings.ignored).
 */
function ownPaths(data: CatalogData): Set<string> {
  return new Set([
    ...data.settings.ignored,
    ...data.volumes.flatMap((v) => [v.path, ...(v.retired ?? []).map((r) => r.path)]),
    ...data.snapshots.map((s) => s.path).filter(Boolean),
    ...data.qrvs.filter((q) => q.state !== 'removed').map((q) => q.destination),
    ...data.pools.flatMap((p) => p.members.map((m) => m.path)),
  ]);
}

/** A volume name from a file name (its stem) or a suggested name, with anything else replaced, made unique. */
function nameFor(file: string, taken: (name: string) => boolean, suggested?: string): string {
  const stem =
    (suggested ?? path.basename(file).replace(/\.[^.]*$/, ''))
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 56) || 'volume';
  let name = stem;
  for (let n = 2; taken(name); n += 1) name = `${stem}-${n}`;
  return name;
}

/** Whether discovery can find volumes of this provider (image files, or the provider's own discover). */
export function discoverable(providerName: string): boolean {
  return providerName === fileProvider.name || Boolean(getProvider(providerName).discover);
}

/** The prefix of a discovery entry that selects logical volumes: `lvm:VG`, `lvm:VG/LV`, `*` matches any part of a name. */
export const LVM_PREFIX = 'lvm:';

const SELECTOR = /^(\*|[A-Za-z0-9+_.*-]+)(?:\/([A-Za-z0-9+_.*-]+))?$/;

/** Whether /dev/VG/LV is selected by `VG[/LV]` (either part may hold `*`). */
export function lvSelected(selector: string, devicePath: string): boolean {
  const [, vgPattern, lvPattern] = SELECTOR.exec(selector) ?? [];
  const [, vg, lv] = /^\/dev\/([^/]+)\/([^/]+)$/.exec(devicePath) ?? [];
  if (!vgPattern || !vg || !lv) return false;
  const matches = (pattern: string, name: string) =>
    new RegExp(`^${pattern.replace(/[.+]/g, '\\$&').replace(/\*/g, '.*')}$`).test(name);
  return matches(vgPattern, vg) && matches(lvPattern ?? '*', lv);
}

interface Candidate {
  file: string;
  size: number;
  provider: Provider;
  name?: string;
}

/** Image files the globs match. */
async function fileCandidates(globs: string[], own: Set<string>): Promise<Candidate[]> {
  if (globs.length === 0) return [];
  const { default: fg } = await import('fast-glob'); // loaded when a glob is read, not at every start
  const found = await fg(globs, {
    absolute: true,
    onlyFiles: true,
    followSymbolicLinks: false,
    unique: true,
    suppressErrors: true,
    ignore: ['**/.qrv-snapshots/**'],
  });
  const candidates: Candidate[] = [];
  for (const file of found.sort()) {
    const real = await fs.realpath(file).catch(() => file);
    if (own.has(real) || own.has(file)) continue;
    const st = await fs.stat(real).catch(() => null);
    // what a glob matches beside the images (notes, checksums, a config file) is not a volume
    if (st?.isFile() && st.size > 0 && (await notAnImage(real).catch(() => 'gone')) === null)
      candidates.push({ file: real, size: st.size, provider: fileProvider });
  }
  return candidates;
}

/** Logical volumes the `lvm:` selectors match, from the lvm provider's report. */
async function lvCandidates(selectors: string[], own: Set<string>): Promise<Candidate[]> {
  if (selectors.length === 0) return [];
  const provider = getProvider('lvm');
  const found = (await provider.discover?.()) ?? [];
  return found
    .filter((lv) => !own.has(lv.path) && selectors.some((selector) => lvSelected(selector, lv.path)))
    .map((lv) => ({ file: lv.path, size: lv.sizeBytes, provider, name: lv.name }));
}

export async function rediscover(ctx: Context, extraGlobs: string[] = []): Promise<Volume[]> {
  const before = await ctx.catalog.read();
  const globs = [...new Set([...before.settings.discovery, ...extraGlobs])];
  if (globs.length === 0) return [];
  const own = ownPaths(before);
  const candidates = [
    ...(await fileCandidates(
      globs.filter((g) => !g.startsWith(LVM_PREFIX)),
      own,
    )),
    ...(await lvCandidates(
      globs.filter((g) => g.startsWith(LVM_PREFIX)).map((g) => g.slice(LVM_PREFIX.length)),
      own,
    )),
  ];
  return ctx.catalog.update((data) => {
    data.settings.discovery = globs;
    const added: Volume[] = [];
    const known = ownPaths(data);
    for (const { file, size, provider, name: suggested } of candidates) {
      if (known.has(file)) continue;
      const name = nameFor(
        file,
        (n) => data.volumes.some((v) => v.name === n) || data.subclients.some((s) => s.name === n),
        suggested,
      );
      const volume: Volume = {
        name,
        provider: provider.name,
        path: file,
        options: provider.defaultOptions(file, name),
        sizeBytes: size,
        addedAt: ctx.now().toISOString(),
        policy: null,
        discovered: true,
      };
      data.volumes.push(volume);
      joinDefault(data, name);
      known.add(file);
      added.push(volume);
    }
    return added;
  });
}

/** Removes remembered entries, each as listed (`lvm:` may be left out of a selector); an unknown one changes nothing. */
async function forgetEntries(ctx: Context, forget: string[]): Promise<string[]> {
  if (forget.length === 0) return [];
  return ctx.catalog.update((data) => {
    const remembered = data.settings.discovery;
    const entries = forget.map((f) =>
      remembered.includes(f) ? f : remembered.includes(`${LVM_PREFIX}${f}`) ? `${LVM_PREFIX}${f}` : null,
    );
    const unknown = forget.find((_, i) => entries[i] === null);
    if (unknown !== undefined) {
      throw new QrvError(
        'usage',
        'not-a-discovery-glob',
        `--forget "${unknown}" is not a remembered discovery glob`,
        remembered.length ? `the remembered ones: ${remembered.join(' ')}` : 'none are remembered',
      );
    }
    data.settings.discovery = remembered.filter((g) => !entries.includes(g));
    return entries as string[];
  });
}

export async function discover(
  ctx: Context,
  globs: string[],
  lvSelectors: string[] = [],
  forget: string[] = [],
): Promise<Summary> {
  for (const glob of globs) {
    if (!path.isAbsolute(glob))
      throw new QrvError(
        'usage',
        'relative-glob',
        `discovery glob "${glob}" is not absolute`,
        'give a full path pattern, e.g. /srv/vm/*.img',
      );
  }
  for (const selector of lvSelectors) {
    if (!SELECTOR.test(selector))
      throw new QrvError(
        'usage',
        'bad-lv-selector',
        `--lvm "${selector}" is not VG or VG/LV`,
        'e.g. --lvm vg0 (every LV of vg0), --lvm "vg0/db*", --lvm "*"',
      );
  }
  const forgotten = await forgetEntries(ctx, forget);
  const added = await rediscover(ctx, [...globs, ...lvSelectors.map((s) => `${LVM_PREFIX}${s}`)]);
  const { settings } = await ctx.catalog.read();
  if (settings.discovery.length === 0 && forgotten.length === 0)
    throw new QrvError(
      'usage',
      'no-discovery-globs',
      'no discovery globs are configured',
      'give one with --path, e.g. qrv discover --path "/srv/vm/*.img", or --lvm VG',
    );
  return {
    data: { added, forgotten, globs: settings.discovery, ignored: settings.ignored },
    lines: [
      ...forgotten.map((g) => `forgot discovery glob ${g} (its volumes stay)`),
      ...added.map((v) => `added volume ${v.name} (${v.provider}, ${v.path}) to sub-client default`),
      added.length ? `${added.length} new volume(s)` : 'no new volumes',
      `discovery globs: ${settings.discovery.join(' ') || 'none'}`,
      ...(settings.ignored.length
        ? [`never added again (volumes removed by qrv volume remove): ${settings.ignored.join(' ')}`]
        : []),
    ],
  };
}
