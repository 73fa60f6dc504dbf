// `qrv volume add|list|remove`: the catalog's volumes.
import { plainCopy } from '../catalog/tracked.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { CatalogData } from '../catalog/schema.ts';
import { findVolume } from '../catalog/lookup.ts';
import { volumeRef, type Provider, type VolumeRef } from '../providers/provider.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { refuseWhileHydrating } from '../engine/recovery-state.ts';
import { discoverable } from './discover.ts';
import { joinDefault } from './subclients.ts';
import { findPolicy } from '../policy/resolve.ts';
import type { Summary } from '../output/printer.ts';
import { volumeTable } from '../output/rows.ts';
import { getProvider } from '../providers/registry.ts';
import { notAnImage } from '../providers/file/image-check.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface AddVolumeRequest {
  name: string;
  provider: string;
  /** the image file or device (`--path`) */
  path?: string;
  /** the block device a provider that takes devices over (dm) puts under its own (`--device`) */
  device?: string;
  snapshotDir?: string;
  /** dm: where COW files are kept (default <home>/cow) */
  cowDir?: string;
  /** dm: a device to hold the COW store instead of a file */
  cowDevice?: string;
  /** dm, lvm: size of a COW store in % of the volume */
  cowPercent?: string;
}

export async function addVolume(ctx: Context, request: AddVolumeRequest): Promise<Summary> {
  checkVolumeName(request.name);
  const provider = getProvider(request.provider);
  checkProviderFlags(request, provider);
  const imagePath = path.resolve(givenVolume(request, provider));
  const options = volumeOptions(request, provider, imagePath);
  let ref: VolumeRef = { name: request.name, provider: provider.name, path: imagePath, options };
  if (provider.adopt) {
    // Refuse what the catalog would refuse before the device is taken over; checked again below.
    checkNewVolume(await ctx.catalog.read(), request.name, imagePath);
    ref = await provider.adopt({ ...ref, options: { ...options, device: imagePath } }, { home: ctx.catalog.home });
  }
  const adopted = provider.adopt ? ref : null;
  const undoAdopt = (error: unknown) => giveBack(provider, adopted, request.name, error);
  const facts = await provider.inspect(ref).catch((error: unknown) => undoAdopt(withPathHint(error)));
  if (provider.name === 'file') await checkImage(request.name, imagePath);
  if (options.snapshotDir) await checkStoreFolder(options.snapshotDir);
  const volume = {
    name: request.name,
    provider: provider.name,
    path: ref.path,
    options: ref.options,
    sizeBytes: facts.sizeBytes,
    addedAt: ctx.now().toISOString(),
    policy: null,
    discovered: false,
  };
  const forms = await pathForms(imagePath);
  await ctx.catalog
    .update(async (data) => {
      checkNewVolume(data, request.name, imagePath);
      if (ref.path !== imagePath) checkNewVolume(data, request.name, ref.path);
      await checkSameImage(data, ref.path);
      // added by hand: discovery may know it again (it is a volume now, so it adds nothing twice)
      data.settings.ignored = data.settings.ignored.filter((p) => !forms.includes(p));
      data.volumes.push(volume);
      joinDefault(data, volume.name);
    })
    .catch(undoAdopt);
  const over = adopted ? ` over ${imagePath}: use ${volume.path} from now on` : '';
  return {
    data: { volume },
    lines: [`added volume ${volume.name} (${provider.name}, ${volume.path}) to sub-client default${over}`],
  };
}

function checkVolumeName(name: string): void {
  if (!NAME.test(name)) {
    throw new QrvError(
      'usage',
      'bad-volume-name',
      `volume name "${name}" is not allowed`,
      'use letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit',
    );
  }
}

/** --device, --cow-dir, --cow-device and --snapshot-dir only where the provider takes them. */
function checkProviderFlags(request: AddVolumeRequest, provider: Provider): void {
  if (request.device !== undefined && request.path !== undefined)
    throw new QrvError(
      'usage',
      'path-and-device',
      'give --path or --device, not both',
      "--device is the dm provider's name for --path",
    );
  if (request.device !== undefined && !provider.adopt)
    throw new QrvError(
      'usage',
      'device-needs-dm',
      `--device is for providers that take a device over (dm), not ${provider.name}`,
      'use --path',
    );
  for (const [flag, given] of [
    ['--cow-dir', request.cowDir],
    ['--cow-device', request.cowDevice],
  ] as const) {
    if (given !== undefined && !provider.adopt)
      throw new QrvError(
        'usage',
        'option-needs-dm',
        `${flag} is for the dm provider, not ${provider.name}`,
        `leave ${flag} out, or use --provider dm`,
      );
  }
  if (request.snapshotDir !== undefined && provider.name !== 'file') {
    throw new QrvError(
      'usage',
      'option-needs-file',
      `--snapshot-dir is for the file provider, not ${provider.name}`,
      provider.adopt
        ? 'leave it out: dm snapshots keep their changes in a COW store (--cow-dir, --cow-device)'
        : 'leave it out: lvm snapshots are logical volumes in the volume group',
    );
  }
}

/** The image or device the volume is, as given (--device or --path). */
function givenVolume(request: AddVolumeRequest, provider: Provider): string {
  const given = request.device ?? request.path;
  if (given === undefined)
    throw new QrvError(
      'usage',
      'missing-path',
      'no volume given',
      provider.adopt ? 'give the block device with --device /dev/sdX' : 'give the image or device with --path',
    );
  return given;
}

/** The provider's default options with the folders, device and percentage the request gives. */
function volumeOptions(request: AddVolumeRequest, provider: Provider, imagePath: string): Record<string, string> {
  const options = provider.defaultOptions(imagePath, request.name);
  if (request.snapshotDir) options.snapshotDir = path.resolve(request.snapshotDir);
  if (request.cowDir !== undefined) options.cowDir = path.resolve(request.cowDir);
  if (request.cowDevice !== undefined) options.cowDevice = path.resolve(request.cowDevice);
  if (request.cowPercent !== undefined) options.cowPercent = checkCowPercent(request.cowPercent);
  return options;
}

/** --cow-percent as a number in (0, 100], written back plainly ("020" is "20"). */
function checkCowPercent(given: string): string {
  const percent = Number(given);
  if (!/^\d+(\.\d+)?$/.test(given.trim()) || !(percent > 0 && percent <= 100))
    throw new QrvError(
      'usage',
      'bad-cow-percent',
      `--cow-percent ${given} is not a percentage`,
      'give a number above 0 and at most 100, e.g. 20',
    );
  return String(percent);
}

/** A missing volume's error, with what to check. */
function withPathHint(error: unknown): unknown {
  if (error instanceof QrvError && error.code === 'volume-missing')
    return new QrvError(
      error.exit,
      error.code,
      error.message,
      'check the path: the volume must exist before it is added',
    );
  return error;
}

/** Gives an adopted device back when the volume is not recorded after all, then throws `error`. */
async function giveBack(provider: Provider, adopted: VolumeRef | null, name: string, error: unknown): Promise<never> {
  if (adopted && provider.release) {
    await provider.release(adopted).catch((releaseError: unknown) => {
      throw new QrvError(
        'io',
        'release-failed',
        `volume "${name}" was not added (${(error as Error).message}), and ${adopted.path} could not be given back: ${(releaseError as Error).message}`,
        `remove it by hand (dmsetup remove ${path.basename(adopted.path)}) when nothing uses it`,
        { cause: error },
      );
    });
  }
  throw error;
}

/** A file volume must be a disk image: not /etc/passwd, not a file on /proc. */
async function checkImage(name: string, imagePath: string): Promise<void> {
  const why = await notAnImage(imagePath);
  if (why)
    throw new QrvError(
      'usage',
      'not-an-image',
      `volume "${name}": ${imagePath} is not a disk image: ${why}`,
      'give an image file (made by mkfs, qemu-img create -f raw, or truncate -s 1G); for a block device use --provider lvm or dm',
    );
}

/** A new volume's name and path must be free: not a sub-client, not a volume, not another volume's image or device. */
function checkNewVolume(data: CatalogData, name: string, volumePath: string): void {
  if (data.subclients.some((s) => s.name === name))
    throw new QrvError(
      'refused',
      'name-is-subclient',
      `"${name}" is a sub-client's name`,
      'volumes and sub-clients share names in `qrv run`; choose another',
    );
  if (data.volumes.some((v) => v.name === name))
    throw new QrvError(
      'refused',
      'volume-exists',
      `a volume named "${name}" exists already`,
      'choose another name, or `qrv volume remove` the old one first',
    );
  const same = data.volumes.find((v) => v.path === volumePath || v.options.device === volumePath);
  if (same)
    throw new QrvError(
      'refused',
      'volume-path-known',
      `${volumePath} is volume "${same.name}" already`,
      `use "${same.name}"`,
    );
}

/** What a path names after links: its real path and the file (or device) it is. */
async function identity(file: string): Promise<{ real: string; key: string } | null> {
  const st = await fs.stat(file).catch(() => null);
  if (!st) return null;
  return { real: await fs.realpath(file), key: st.isBlockDevice() ? `b:${st.rdev}` : `f:${st.dev}:${st.ino}` };
}

/** The same image or device under another name (a symbolic link, a hard link, /dev/vg/lv and /dev/dm-N) is the volume it is already. */
async function checkSameImage(data: CatalogData, volumePath: string): Promise<void> {
  const mine = await identity(volumePath);
  if (!mine) return;
  for (const volume of data.volumes) {
    const theirs = await identity(volume.path);
    if (theirs && (theirs.real === mine.real || theirs.key === mine.key)) {
      throw new QrvError(
        'refused',
        'volume-path-known',
        `${volumePath} is volume "${volume.name}" already (the same ${mine.key.startsWith('b:') ? 'device' : 'file'} as ${volume.path})`,
        `use "${volume.name}"`,
      );
    }
  }
}

/** The snapshot store must be (or become) a folder: refuse a path under a file now, not at the first snapshot. */
async function checkStoreFolder(dir: string): Promise<void> {
  let probe = dir;
  for (;;) {
    const st = await fs.stat(probe).catch(() => null);
    if (st) {
      if (!st.isDirectory())
        throw new QrvError(
          'usage',
          'bad-snapshot-dir',
          `snapshot folder ${dir} cannot be made: ${probe} is not a folder`,
          'give --snapshot-dir a folder on the same filesystem as the image',
        );
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
    return plainCopy(row);
  });
  return {
    data: { volume },
    lines: [`volume ${name} follows ${volume.policy ? `policy ${volume.policy}` : "its sub-clients' policies"}`],
  };
}

export async function listVolumes(ctx: Context): Promise<Summary> {
  const { volumes } = await ctx.catalog.read();
  return {
    data: { volumes },
    lines: volumes.length ? volumeTable(volumes) : ['no volumes yet (add one with `qrv volume add` or `qrv discover`)'],
  };
}

/** A path as given and as resolved through symbolic links (discovery compares real paths). */
async function pathForms(file: string): Promise<string[]> {
  const real = await fs.realpath(file).catch(() => file);
  return [...new Set([file, real])];
}

export async function removeVolume(ctx: Context, name: string): Promise<Summary> {
  let ignored = false;
  const removed = await ctx.catalog.update(async (data) => {
    const volume = findVolume(data, name);
    const busy = data.jobs.find((j) => j.volume === name && jobAlive(j));
    if (busy)
      throw new QrvError(
        'busy',
        'volume-busy',
        `job ${busy.id} (${busy.kind}) of volume "${name}" is running (pid ${busy.pid})`,
        'wait for it to finish',
      );
    refuseWhileHydrating(data, name, `cannot remove volume ${name}`);
    const live = data.snapshots.filter((s) => s.volume === name && s.state !== 'removed' && s.state !== 'failed');
    if (live.length) {
      throw new QrvError(
        'refused',
        'volume-has-snapshots',
        `volume "${name}" still has ${live.length} snapshot(s): ${live.map((s) => s.id).join(', ')}`,
        'remove them first with `qrv unsnap ID`',
      );
    }
    // A provider that took the device over gives it back first; if it cannot, the row stays.
    const provider = getProvider(volume.provider);
    if (provider.release) await provider.release(volumeRef(volume));
    data.volumes = data.volumes.filter((v) => v.name !== name);
    for (const subclient of data.subclients) subclient.volumes = subclient.volumes.filter((v) => v !== name);
    // With discovery globs set, the next re-discovery would add it straight back: remember not to.
    if (data.settings.discovery.length && discoverable(volume.provider)) {
      const forms = await pathForms(volume.path);
      data.settings.ignored = [...data.settings.ignored.filter((p) => !forms.includes(p)), ...forms];
      ignored = true;
    }
    return volume;
  });
  const device = removed.options.device;
  const line =
    device && getProvider(removed.provider).release
      ? `removed volume ${name} from the catalog and ${removed.path}; ${device} is as it was: use it directly again`
      : `removed volume ${name} from the catalog (its image ${removed.path} is untouched)`;
  const lines = [
    line,
    ...(ignored ? [`discovery will not add ${removed.path} again (\`qrv volume add\` brings it back)`] : []),
  ];
  return { data: { volume: removed, discoveryIgnores: ignored }, lines };
}
