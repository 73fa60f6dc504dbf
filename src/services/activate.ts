// `qrv volume activate [NAME...] [--all]`: after a reboot, makes a dm volume's qrv-NAME device again
// and attaches its catalog snapshots over their persistent COW stores; and, for a volume whose
// instant recovery a reboot stopped (dm or lvm), makes its mirror again over the same COW store and
// region log, so that the kernel's copy goes on (src/services/instant.ts).
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Volume } from '../catalog/schema.ts';
import { findVolume } from '../catalog/lookup.ts';
import { volumeRef, type Provider } from '../providers/provider.ts';
import type { Summary } from '../output/printer.ts';
import { getProvider } from '../providers/registry.ts';
import { reattach } from './instant.ts';

const activates = (v: Volume): boolean => Boolean(getProvider(v.provider).activate || v.hydration);

export async function activateVolumes(ctx: Context, names: string[], all: boolean): Promise<Summary> {
  const data = await ctx.catalog.read();
  if (names.length === 0 && !all)
    throw new QrvError(
      'usage',
      'nothing-to-activate',
      'no volume given',
      'name the volumes, or give --all for every dm volume',
    );
  const volumes = all && names.length === 0 ? data.volumes.filter(activates) : names.map((n) => findVolume(data, n));
  for (const volume of volumes)
    if (!activates(volume))
      throw new QrvError(
        'usage',
        'not-a-dm-volume',
        `volume "${volume.name}" is a ${volume.provider} volume: only dm volumes (and volumes an instant recovery is copying onto) are activated`,
        'leave it out',
      );
  const lines: string[] = [];
  const results = [];
  let failed = 0;
  for (const volume of volumes) {
    const done = await activateOne(volume, data.snapshots, lines);
    if (done) {
      results.push(done.result);
      failed += done.failed;
    } else failed++;
  }
  if (volumes.length === 0) lines.push('no dm volumes in the catalog');
  if (failed) {
    throw new QrvError(
      'partial',
      'activate-partial',
      `not everything could be activated: ${lines.join('; ')}`,
      '`qrv doctor` compares the catalog with what the kernel holds; `qrv unsnap ID` removes a lost snapshot',
    );
  }
  return { data: { activated: results }, lines };
}

/** One volume: its device and snapshots (dm), then its instant recovery's mirror; null when it failed. */
async function activateOne(
  volume: Volume,
  snapshots: Array<{ id: string; volume: string; provider: string; state: string }>,
  lines: string[],
): Promise<{ result: object; failed: number } | null> {
  const provider = getProvider(volume.provider);
  const ids = snapshots
    .filter((s) => s.volume === volume.name && s.provider === 'dm' && s.state === 'ready')
    .map((s) => s.id);
  try {
    const result = provider.activate
      ? await (provider.activate as NonNullable<Provider['activate']>)(volumeRef(volume), ids)
      : null;
    if (result) lines.push(activatedLine(volume, result));
    for (const f of result?.failed ?? []) lines.push(`  ${f.snapshotId} not attached: ${f.reason}`);
    const hydration = volume.hydration ? await reattach(volume) : null;
    if (hydration) lines.push(`${volume.name}: ${hydration}`);
    return {
      result: { volume: volume.name, ...result, ...(hydration ? { hydration } : {}) },
      failed: result?.failed.length ?? 0,
    };
  } catch (error) {
    // One volume that cannot be activated must not keep the others (at boot) down.
    if (!(error instanceof QrvError) || error.code === 'resume-failed') throw error;
    lines.push(`${volume.name}: not activated: ${error.message} (${error.hint ?? ''})`);
    return null;
  }
}

function activatedLine(volume: Volume, result: Awaited<ReturnType<NonNullable<Provider['activate']>>>): string {
  const made = result.originCreated ? `${volume.path} made over ${volume.options.device}` : `${volume.path} was active`;
  const attached = result.attached.length ? result.attached.join(', ') : 'none';
  const active = result.active.length ? `, active already: ${result.active.join(', ')}` : '';
  return `${volume.name}: ${made}; snapshots attached again: ${attached}${active}`;
}
