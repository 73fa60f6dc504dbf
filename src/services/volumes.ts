// `qrv volume add|list|remove`: the catalog's volumes.
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { findVolume } from '../engine/lookup.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { joinDefault } from './subclients.ts';
import { findPolicy } from '../policy/resolve.ts';
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
  const facts = await provider.inspect({ name: request.name, provider: provider.name, path: imagePath, options }).catch((error: unknown) => {
    if (error instanceof QrvError && error.code === 'volume-missing') throw new QrvError(error.exit, error.code, error.message, 'check the path: the volume must exist before it is added');
    throw error;
  });
  if (options.snapshotDir) await checkStoreFolder(options.snapshotDir);
  const volume = { name: request.name, provider: provider.name, path: imagePath, options, sizeBytes: facts.sizeBytes, addedAt: ctx.now().toISOString(), policy: null, discovered: false };
  await ctx.catalog.update((data) => {
    if (data.subclients.some((s) => s.name === request.name)) throw new QrvError('refused', 'name-is-subclient', `"${request.name}" is a sub-client's name`, 'volumes and sub-clients share names in `qrv run`; choose another');
    if (data.volumes.some((v) => v.name === request.name)) throw new QrvError('refused', 'volume-exists', `a volume named "${request.name}" exists already`, 'choose another name, or `qrv volume remove` the old one first');
    const same = data.volumes.find((v) => v.path === imagePath);
    if (same) throw new QrvError('refused', 'volume-path-known', `${imagePath} is volume "${same.name}" already`, `use "${same.name}"`);
    data.volumes.push(volume);
    joinDefault(data, volume.name);
  });
  return { data: { volume }, lines: [`added volume ${volume.name} (${provider.name}, ${volume.path}) to sub-client default`] };
}

/** The snapshot store must be (or become) a folder: refuse a path under a file now, not at the first snapshot. */
async function checkStoreFolder(dir: string): Promise<void> {
  let probe = dir;
  for (;;) {
    const st = await fs.stat(probe).catch(() => null);
    if (st) {
      if (!st.isDirectory()) throw new QrvError('usage', 'bad-snapshot-dir', `snapshot folder ${dir} cannot be made: ${probe} is not a folder`, 'give --snapshot-dir a folder on the same filesystem as the image');
      return;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return;
    probe = parent;
  }
}

/** `qrv volume set NAME --policy P|none`: the volume's own policy, which wins over its sub-clients'. */
export async function setVolumePolicy(ctx: Context, name: string, policy: string): Promise<Summary> {
  const volume = await ctx.catalog.update((data) => {
    const row = findVolume(data, name);
    row.policy = /^none$/i.test(policy) ? null : findPolicy(data, policy).name;
    return structuredClone(row);
  });
  return { data: { volume }, lines: [`volume ${name} follows ${volume.policy ? `policy ${volume.policy}` : 'its sub-clients\' policies'}`] };
}

export async function listVolumes(ctx: Context): Promise<Summary> {
  const { volumes } = await ctx.catalog.read();
  return { data: { volumes }, lines: volumes.length ? volumeTable(volumes) : ['no volumes yet (add one with `qrv volume add` or `qrv discover`)'] };
}

export async function removeVolume(ctx: Context, name: string): Promise<Summary> {
  const removed = await ctx.catalog.update((data) => {
    const volume = findVolume(data, name);
    const busy = data.jobs.find((j) => j.volume === name && jobAlive(j));
    if (busy) throw new QrvError('busy', 'volume-busy', `job ${busy.id} (${busy.kind}) of volume "${name}" is running (pid ${busy.pid})`, 'wait for it to finish');
    const live = data.snapshots.filter((s) => s.volume === name && s.state !== 'removed' && s.state !== 'failed');
    if (live.length) {
      throw new QrvError('refused', 'volume-has-snapshots', `volume "${name}" still has ${live.length} snapshot(s): ${live.map((s) => s.id).join(', ')}`, 'remove them first with `qrv unsnap ID`');
    }
    data.volumes = data.volumes.filter((v) => v.name !== name);
    for (const subclient of data.subclients) subclient.volumes = subclient.volumes.filter((v) => v !== name);
    return volume;
  });
  return { data: { volume: removed }, lines: [`removed volume ${name} from the catalog (its image ${removed.path} is untouched)`] };
}
