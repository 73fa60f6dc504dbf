// `qrv volume add|list|remove`: the catalog's volumes.
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { findVolume } from '../engine/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { volumeTable } from '../output/rows.ts';
import { getProvider } from '../providers/registry.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface AddVolumeRequest {
  name: string;
  provider: string;
  path: string;
  snapshotDir?: string;
}

export async function addVolume(ctx: Context, request: AddVolumeRequest): Promise<Summary> {
  if (!NAME.test(request.name)) {
    throw new QrvError('usage', 'bad-volume-name', `volume name "${request.name}" is not allowed`, 'use letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit');
  }
  const provider = getProvider(request.provider);
  const imagePath = path.resolve(request.path);
  const options = provider.defaultOptions(imagePath, request.name);
  if (request.snapshotDir) options.snapshotDir = path.resolve(request.snapshotDir);
  const facts = await provider.inspect({ name: request.name, provider: provider.name, path: imagePath, options });
  const volume = { name: request.name, provider: provider.name, path: imagePath, options, sizeBytes: facts.sizeBytes, addedAt: ctx.now().toISOString() };
  await ctx.catalog.update((data) => {
    if (data.volumes.some((v) => v.name === request.name)) throw new QrvError('refused', 'volume-exists', `a volume named "${request.name}" exists already`, 'choose another name, or `qrv volume remove` the old one first');
    const same = data.volumes.find((v) => v.path === imagePath);
    if (same) throw new QrvError('refused', 'volume-path-known', `${imagePath} is volume "${same.name}" already`, `use "${same.name}"`);
    data.volumes.push(volume);
  });
  return { data: { volume }, lines: [`added volume ${volume.name} (${provider.name}, ${volume.path})`] };
}

export async function listVolumes(ctx: Context): Promise<Summary> {
  const { volumes } = await ctx.catalog.read();
  return { data: { volumes }, lines: volumes.length ? volumeTable(volumes) : ['no volumes yet (add one with `qrv volume add`)'] };
}

export async function removeVolume(ctx: Context, name: string): Promise<Summary> {
  const removed = await ctx.catalog.update((data) => {
    const volume = findVolume(data, name);
    const live = data.snapshots.filter((s) => s.volume === name && s.state !== 'removed' && s.state !== 'failed');
    if (live.length) {
      throw new QrvError('refused', 'volume-has-snapshots', `volume "${name}" still has ${live.length} snapshot(s): ${live.map((s) => s.id).join(', ')}`, 'remove them first with `qrv unsnap ID`');
    }
    data.volumes = data.volumes.filter((v) => v.name !== name);
    return volume;
  });
  return { data: { volume: removed }, lines: [`removed volume ${name} from the catalog (its image ${removed.path} is untouched)`] };
}
