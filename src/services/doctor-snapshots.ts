// `qrv doctor`'s look at each volume's snapshots: what its provider holds against the catalog's
// rows. A held snapshot whose row says removed or failed is an orphan (removed); one a killed job
// left creating or removing is unfinished (removed, and its row marked failed or removed); a ready
// one whose copy-on-write store overflowed is invalid (removed, marked failed). A row with nothing
// behind it is missing (marked). A held snapshot with no row is another home's: only named.
import type { CatalogData, Snapshot, Volume } from '../catalog/schema.ts';
import { isQrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { type HeldSnapshot, type Provider, volumeRef } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import { open, type Planned } from './doctor-findings.ts';

/** One volume's snapshots: the catalog's rows of it and what its provider holds. */
interface VolumeSnapshots {
  ctx: Context;
  volume: Volume;
  provider: Provider;
  rows: Snapshot[];
  held: HeldSnapshot[];
}

/** Snapshots the provider holds that the catalog does not know, and catalog rows with nothing behind them. */
export async function snapshotFindings(ctx: Context, data: CatalogData, foreign: string[]): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const volume of data.volumes) {
    // A volume with a live job is left alone: its snapshots may be between two steps.
    if (data.jobs.some((j) => j.volume === volume.name && jobAlive(j))) continue;
    const provider = getProvider(volume.provider);
    const held = await heldSnapshots(provider, volume);
    if (!held) continue;
    const rows = data.snapshots.filter((s) => s.volume === volume.name);
    const snapshots = { ctx, volume, provider, rows, held };
    planned.push(...(await heldFindings(snapshots, foreign)), ...missingFindings(snapshots));
  }
  return planned;
}

/** Whether a held snapshot is the one of this row: by the id the provider recorded, else by its handle. */
function isHeldAs(h: HeldSnapshot, row: Snapshot): boolean {
  return (h.snapshotId !== undefined && h.snapshotId === row.id) || (row.handle !== '' && row.handle === h.handle);
}

/** What the provider holds of a volume; null when it cannot say (the listing failed, or the device is inactive). */
async function heldSnapshots(provider: Provider, volume: Volume): Promise<HeldSnapshot[] | null> {
  // A device the kernel forgot (dm after a reboot) holds no snapshot until `qrv volume activate`:
  // its snapshots are not missing.
  if (
    provider.activate &&
    (await provider.inspect(volumeRef(volume)).then(
      () => false,
      (error: unknown) => isQrvError(error) && error.code === 'volume-inactive',
    ))
  )
    return null;
  return provider.listSnapshots(volumeRef(volume)).catch(() => null);
}

/** A finding for each held snapshot whose row says it should not be there (or is invalid); names the foreign ones. */
async function heldFindings(snapshots: VolumeSnapshots, foreign: string[]): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const h of snapshots.held) {
    const row = snapshots.rows.find((s) => isHeldAs(h, s));
    // Only what this home made is ours to remove: a snapshot this catalog has no row for was
    // made by another qrv home protecting the same volume (or by someone else). Every snapshot
    // this home makes has its row before it exists (the job's begin records it as creating).
    if (!row) {
      foreign.push(`${h.handle} of ${snapshots.volume.name}`);
      continue;
    }
    const found = await heldFinding(snapshots, h, row);
    if (found) planned.push(found);
  }
  return planned;
}

/** What is wrong with a held snapshot that has a row, if anything. */
async function heldFinding(snapshots: VolumeSnapshots, h: HeldSnapshot, row: Snapshot): Promise<Planned | null> {
  const { volume, provider } = snapshots;
  if (row.state === 'removed' || row.state === 'failed') {
    const what = `the ${volume.provider} provider holds snapshot ${h.handle} of ${volume.name}, which the catalog says is ${row.state}`;
    return {
      finding: open('orphan-snapshot', h.handle, what, 'remove it'),
      fix: () => provider.removeSnapshot(volumeRef(volume), h.handle),
    };
  }
  if (row.state === 'creating' || row.state === 'removing') {
    const finished = row.state === 'creating' ? 'failed' : 'removed';
    const what = `snapshot ${row.id} of ${volume.name} was left ${row.state} by job ${row.jobId}`;
    return {
      finding: open('unfinished-snapshot', row.id, what, `remove it and mark it ${finished}`),
      fix: removeAndMark(snapshots, h, row.id, finished),
    };
  }
  if (row.state === 'ready' && provider.snapshotHealth) {
    // A classic snapshot whose COW store overflowed holds nothing of its point in time; the
    // kernel keeps the device (and its space) until it is removed.
    const health = await provider.snapshotHealth(volumeRef(volume), row).catch(() => null);
    if (!health?.invalid) return null;
    const what = `snapshot ${row.id} of ${volume.name} overflowed its copy-on-write store: it is invalid and can never be copied from`;
    return {
      finding: open('invalid-snapshot', row.id, what, 'remove it and mark it failed'),
      fix: removeAndMark(snapshots, h, row.id, 'failed'),
    };
  }
  return null;
}

/** A finding for each row the catalog has as taken (or being taken) that the provider does not hold. */
function missingFindings(snapshots: VolumeSnapshots): Planned[] {
  const { ctx, volume, held } = snapshots;
  const planned: Planned[] = [];
  for (const row of snapshots.rows) {
    if (row.state === 'removed' || row.state === 'failed') continue;
    if (held.some((h) => isHeldAs(h, row))) continue;
    const state = row.state === 'creating' ? 'failed' : 'removed';
    const what = `snapshot ${row.id} of ${volume.name} is ${row.state} in the catalog but the ${volume.provider} provider does not hold it`;
    planned.push({
      finding: open('missing-snapshot', row.id, what, `mark it ${state}`),
      fix: () => markSnapshot(ctx, row.id, state),
    });
  }
  return planned;
}

/** The fix that removes a held snapshot, then marks its row `state`. */
function removeAndMark(
  snapshots: VolumeSnapshots,
  h: HeldSnapshot,
  id: string,
  state: Snapshot['state'],
): () => Promise<void> {
  const { ctx, volume, provider } = snapshots;
  return async () => {
    await provider.removeSnapshot(volumeRef(volume), h.handle);
    await markSnapshot(ctx, id, state);
  };
}

/** Marks a snapshot's row `state` (and when it was removed, when that is the state). */
function markSnapshot(ctx: Context, id: string, state: Snapshot['state']): Promise<void> {
  return ctx.catalog.update((catalog) => {
    const row = catalog.snapshots.find((s) => s.id === id);
    if (!row) return;
    row.state = state;
    if (state === 'removed') row.removedAt = ctx.now().toISOString();
  });
}
