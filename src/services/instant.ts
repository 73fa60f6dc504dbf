// `qrv recover VOLUME --from QRV --instant` (dm and lvm volumes): the volume's device reads the
// QRV within seconds while the kernel copies the QRV onto the volume's own data in the background
// (src/providers/hydrate/). The volume's catalog row records the copy (`hydration`) from before
// its first device is made until the last helper is gone, so that a killed qrv, a reboot or
// `qrv doctor` always knows what runs. `--status` shows how far each copy is and finishes those
// that are done: the device becomes what it was (a linear LV, qrv-NAME), without an unmount.
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { ProgressMeter } from '../core/events.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive, withJob, type JobRecorder } from '../engine/job-recorder.ts';
import { namedTarget } from '../engine/destination.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { CatalogData, HydrationRow, Volume } from '../catalog/schema.ts';
import type { Summary } from '../output/printer.ts';
import { getProvider } from '../providers/registry.ts';
import { volumeRef, type InstantSupport } from '../providers/provider.ts';
import {
  attachHydration,
  finishHydration,
  hydrationProgress,
  removeHelpers,
  type HydrationProgress,
  type HydrationSpec,
} from '../providers/hydrate/hydration.ts';
import { Pacer, parseThrottle, setResyncThrottle, type Throttle } from '../providers/hydrate/throttle.ts';
import { checkTarget, sourceOf } from './recover.ts';
import { refuseWhileHydrating } from '../engine/recovery-state.ts';
import { blockDeviceSize } from '../system/block-device.ts';
import { activeUses, describeUse, usesOf } from '../system/device-use.ts';
import { formatBytes } from '../core/duration.ts';

export interface InstantRequest {
  volume: string;
  from: string;
  /** wait for the copy and finish it (default); false: return once the volume reads the copy */
  wait: boolean;
  /** `25%`: the share of time the kernel's mirror copies may use (raid1_resync_throttle, all mirrors); `40M`: a rate kept while qrv waits */
  throttle?: string;
}

/** How often a waiting qrv reads the mirror's status. */
export const POLL_MS = 500;

export const specOf = (row: HydrationRow): HydrationSpec => ({
  id: row.job,
  device: row.device,
  image: row.image,
  sizeBytes: row.sizeBytes,
  dir: row.dir,
});

export async function recoverInstant(ctx: Context, request: InstantRequest): Promise<Summary> {
  const throttle = throttleOf(request.throttle, request.wait);
  const data = await ctx.catalog.read();
  const volume = findVolume(data, request.volume);
  const source = await sourceOf(ctx, volume.name, request.from);
  // a file volume's snapshot can be cloned as well as a QRV (it is beside the image)
  if (volume.provider === 'file') return (await import('./instant-file.ts')).instantFile(ctx, volume, source);
  const instant = instantOf(volume);
  refuseInstant(data, volume, source);
  const planned = await namedTarget(volume.path);
  const deviceBytes = await blockDeviceSize(volume.path);
  if (deviceBytes !== source.sizeBytes)
    throw unsupported(
      `${volume.path} holds ${deviceBytes} bytes and ${source.id} ${source.sizeBytes}: the mirror must be the device's size`,
      `recover with qrv recover ${volume.name} --from ${source.id} --force, or resize the volume to the copy's size first`,
    );
  const { result, job } = await withJob(ctx, 'recover', volume.name, async (job) => {
    job.set({ destination: volume.path, qrvId: source.id });
    await job.step('recover', 'check target', () =>
      checkTarget(data, ctx.catalog.home, {
        volume: volume.name,
        target: planned.target,
        st: planned.st,
        isVolume: true,
        force: true,
        sizeBytes: source.sizeBytes,
      }),
    );
    const row: HydrationRow = {
      job: job.id,
      qrv: source.id,
      image: source.path,
      device: volume.path,
      sizeBytes: source.sizeBytes,
      dir: path.join(ctx.catalog.home, 'hydrate'),
      startedAt: ctx.now().toISOString(),
    };
    await job.begin((catalog) => void (findVolume(catalog, volume.name).hydration = row));
    const pacer = throttle && 'bytesPerSecond' in throttle ? new Pacer(throttle.bytesPerSecond) : null;
    const percent = throttle && 'percent' in throttle ? throttle.percent : pacer?.percent;
    await attach(ctx, job, { volume, instant, row }, percent);
    // from the command: qrv's own start included
    const usableMs = process.uptime() * 1000;
    if (!request.wait) return { usableMs, progress: await hydrationProgress(specOf(row)) };
    const copy = await job.step('recover', 'copy in the background', () => waitFor(ctx, specOf(row), pacer));
    await job.step('recover', 'finish', () => finishOne(ctx, volume.name));
    return { usableMs, progress: null, copy };
  });
  return instantSummary(volume.name, source.id, job, result);
}

/** The mirror made (undone, with the row, if that fails). */
async function attach(
  ctx: Context,
  job: JobRecorder,
  it: { volume: Volume; instant: InstantSupport; row: HydrationRow },
  percent: number | undefined,
): Promise<void> {
  const ref = volumeRef(it.volume);
  await job.step(
    'recover',
    'read from the copy',
    async () => {
      // Before the mirror exists: it starts copying at once, at whatever share is in force
      // (measured: 16-19 MiB of a 64 MiB volume at full speed before a share set after it).
      if (percent !== undefined) await setResyncThrottle(percent);
      try {
        await it.instant.hold(ref, true);
        await attachHydration(specOf(it.row), 'fresh');
        await job.commit((catalog) => {
          const row = findVolume(catalog, it.volume.name).hydration;
          if (row) row.attachedAt = ctx.now().toISOString();
        });
      } catch (error) {
        await it.instant.hold(ref, false).catch(() => undefined);
        await job.commit((catalog) => void delete findVolume(catalog, it.volume.name).hydration);
        if (percent !== undefined) await giveShareBack(ctx);
        throw error;
      }
    },
    () => `${it.volume.path} reads ${it.row.qrv}; the kernel copies it onto the volume`,
  );
}

function instantSummary(
  volume: string,
  qrv: string,
  job: unknown,
  result: { usableMs: number; progress: HydrationProgress | null; copy?: Copied },
): Summary {
  const usable = `${volume} reads ${qrv} since ${(result.usableMs / 1000).toFixed(2)} s after the command`;
  const { progress, copy } = result;
  const copied = copy
    ? `; ${formatBytes(copy.bytes)} copied in ${copy.seconds.toFixed(1)} s (${formatBytes(copy.bytesPerSecond)}/s)`
    : '';
  return {
    data: {
      job,
      source: qrv,
      method: 'instant',
      usableSeconds: result.usableMs / 1000,
      finished: progress === null,
      ...(progress ? { copiedBytes: progress.doneBytes, sizeBytes: progress.sizeBytes } : {}),
      ...(copy ? { copySeconds: copy.seconds, copyBytesPerSecond: copy.bytesPerSecond } : {}),
    },
    lines: progress
      ? [usable, `the kernel copies it onto the volume (${percent(progress)} done): qrv recover --status`]
      : [usable, `recovered ${volume} from ${qrv}: the copy is done and ${volume} is its own device again${copied}`],
  };
}

interface Copied {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
}

/** Waits for the kernel's copy, with progress events (and a rate kept), until every region is copied. */
async function waitFor(ctx: Context, spec: HydrationSpec, pacer: Pacer | null): Promise<Copied> {
  const meter = new ProgressMeter(ctx.reporter, 'recover', spec.sizeBytes);
  const started = performance.now();
  let first: number | null = null;
  for (;;) {
    const progress = await hydrationProgress(spec);
    first ??= progress.doneBytes;
    meter.update(progress.doneBytes, progress.state !== 'copying');
    if (progress.state === 'synced' || progress.state === 'switched') {
      const [bytes, seconds] = [progress.doneBytes - first, (performance.now() - started) / 1000];
      return { bytes, seconds, bytesPerSecond: bytes / Math.max(seconds, 0.001) };
    }
    if (progress.state !== 'copying') throw stopped(spec, progress);
    await pacer?.observe(performance.now(), progress.doneBytes);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** A rate is kept by the qrv that waits: without one (--no-wait) only a share can be set. */
export function throttleOf(text: string | undefined, wait: boolean): Throttle | undefined {
  if (text === undefined) return undefined;
  const throttle = parseThrottle(text);
  if ('bytesPerSecond' in throttle && !wait)
    throw new QrvError(
      'usage',
      'usage',
      `--throttle ${text} is a rate, which the waiting qrv keeps: with --no-wait give a share of time`,
      'e.g. --no-wait --throttle 25% (for every mirror the kernel copies), or wait for the copy',
    );
  return throttle;
}

/** The copy is done: the volume's own device again, the helpers gone, the row cleared. */
export async function finishOne(ctx: Context, name: string): Promise<void> {
  const volume = findVolume(await ctx.catalog.read(), name);
  if (!volume.hydration) return;
  await finishHydration(specOf(volume.hydration));
  await instantOf(volume).hold(volumeRef(volume), false);
  await ctx.catalog.update((catalog) => void delete findVolume(catalog, name).hydration);
  await giveShareBack(ctx);
}

/** The kernel's copy share back to 100 % once no instant recovery is copying (it is one for all mirrors). */
async function giveShareBack(ctx: Context): Promise<void> {
  if (!(await ctx.catalog.read()).volumes.some((v) => v.hydration)) await setResyncThrottle(100).catch(() => undefined);
}

/**
 * A row's copy as it stands. `unattached`: the qrv that made the mirror was killed before the
 * volume's device became it (attachedAt is written right after the swap): the volume is as it
 * was; only helpers may be left.
 */
export async function progressOf(row: HydrationRow): Promise<HydrationProgress> {
  const progress = await hydrationProgress(specOf(row));
  if (row.attachedAt || progress.state === 'copying' || progress.state === 'synced' || progress.state === 'failed')
    return progress;
  return { ...progress, state: 'unattached', doneBytes: 0 };
}

/** A mirror that was never made: its helpers removed, the row cleared. */
export async function dropUnattached(ctx: Context, name: string): Promise<string> {
  const volume = findVolume(await ctx.catalog.read(), name);
  if (!volume.hydration) return 'nothing to do';
  await removeHelpers(specOf(volume.hydration));
  await instantOf(volume).hold(volumeRef(volume), false);
  await ctx.catalog.update((catalog) => void delete findVolume(catalog, name).hydration);
  return `${volume.path} is as it was; what the killed recovery made is removed`;
}

/** `qrv recover --status`: each instant recovery's progress; those done are finished (unless the qrv that waits for one lives). */
export async function hydrationStatus(ctx: Context, names: string[]): Promise<Summary> {
  const data = await ctx.catalog.read();
  for (const name of names) findVolume(data, name);
  const volumes = data.volumes.filter((v) => v.hydration && (names.length === 0 || names.includes(v.name)));
  const rows = [];
  const lines = [];
  for (const volume of volumes) {
    const row = volume.hydration as HydrationRow;
    const waited = data.jobs.some((j) => j.id === row.job && jobAlive(j));
    const shown = await statusOf(ctx, volume.name, row, waited).catch((error: Error) => ({
      row: { state: 'error', error: error.message },
      line: `${volume.name}: ${error.message}`,
    }));
    rows.push({ volume: volume.name, qrv: row.qrv, ...shown.row });
    lines.push(shown.line);
  }
  if (volumes.length === 0) lines.push('no instant recovery is running');
  return { data: { hydrations: rows }, lines };
}

async function statusOf(ctx: Context, name: string, row: HydrationRow, waited: boolean) {
  const progress = await progressOf(row);
  const done = !waited && (progress.state === 'synced' || progress.state === 'switched');
  if (done) await finishOne(ctx, name);
  else if (!waited && progress.state === 'unattached') {
    const line = `${name}: the recovery from ${row.qrv} was killed before ${row.device} read it: ${await dropUnattached(ctx, name)}; run it again`;
    return { row: { state: 'dropped' }, line };
  }
  return {
    row: { state: done ? 'finished' : progress.state, ...bytes(progress) },
    line: statusLine(name, row, progress, done),
  };
}

function statusLine(name: string, row: HydrationRow, progress: HydrationProgress, done: boolean): string {
  if (done) return `${name}: recovered from ${row.qrv}; the copy is done and ${row.device} is its own device again`;
  const since = `from ${row.qrv} since ${row.startedAt}`;
  if (progress.state === 'inactive')
    return `${name}: copy ${since} stopped at a reboot: run qrv volume activate ${name} before anything mounts it`;
  if (progress.state === 'failed')
    return `${name}: copy ${since} failed (legs ${progress.status?.legs}): see dmsetup status; the volume still reads the copy`;
  if (progress.state === 'unattached') return `${name}: the volume is being made to read ${row.qrv}`;
  return `${name}: copying ${since}: ${percent(progress)} (${formatBytes(progress.doneBytes)} of ${formatBytes(progress.sizeBytes)})`;
}

/** After a reboot (`qrv volume activate`): the volume's device made again, then its mirror over the same stores. */
export async function reattach(volume: Volume): Promise<string> {
  const row = volume.hydration as HydrationRow;
  const instant = instantOf(volume);
  const spec = specOf(row);
  const before = await hydrationProgress(spec).catch(() => null);
  if (before && before.state !== 'inactive') return `instant recovery from ${row.qrv}: ${before.state} already`;
  await instant.activate(volumeRef(volume));
  const uses = activeUses(await usesOf(volume.path));
  if (uses.length)
    throw new QrvError(
      'refused',
      'volume-mounted',
      `${volume.path} is ${uses.map(describeUse).join(', ')}: it was put to use while it held only part of the copy`,
      `stop that use and unmount it, then run qrv volume activate ${volume.name} again (what was written to it meanwhile is lost when the copy goes on)`,
    );
  await removeHelpers({ ...spec, keepFiles: true });
  await attachHydration(spec, 'again');
  const now = await hydrationProgress(spec);
  return `instant recovery from ${row.qrv} goes on: ${percent(now)} done`;
}

const bytes = (p: HydrationProgress) => ({ copiedBytes: p.doneBytes, sizeBytes: p.sizeBytes });
const percent = (p: HydrationProgress): string => `${((100 * p.doneBytes) / Math.max(1, p.sizeBytes)).toFixed(1)} %`;

function instantOf(volume: Volume): InstantSupport {
  const instant = getProvider(volume.provider).instant;
  if (!instant)
    throw unsupported(
      `volume ${volume.name} is a ${volume.provider} volume: instant recovery needs a device-mapper volume (dm, lvm)`,
      `recover it with qrv recover ${volume.name} --from ID --force (only what differs is written)`,
    );
  return instant;
}

/** A source that is not a QRV, snapshots in the way, a copy under way already. */
function refuseInstant(data: CatalogData, volume: Volume, source: { id: string; qrv?: unknown }): void {
  if (!source.qrv)
    throw unsupported(`${source.id} is not a QRV`, 'give --from a QRV (a snapshot lives on the disk being recovered)');
  refuseSnapshots(
    data.snapshots.filter((s) => s.volume === volume.name && s.state === 'ready'),
    volume.name,
  );
  refuseWhileHydrating(data, volume.name, `cannot recover volume ${volume.name} again`);
}

/** Snapshots whose copy-on-write store would fill with the whole volume as the copy writes it. */
function refuseSnapshots(snapshots: Array<{ id: string; method: string }>, volume: string): void {
  const cow = snapshots.filter((s) => s.method === 'dm-snapshot' || s.method === 'lvm-classic');
  if (cow.length)
    throw new QrvError(
      'refused',
      'volume-has-snapshots',
      `volume ${volume} has snapshots ${cow.map((s) => s.id).join(', ')}: the copy would write the whole volume into their copy-on-write stores and overflow them`,
      `remove them first (qrv unsnap), or recover without --instant (qrv recover ${volume} --from ID --force)`,
    );
}

const unsupported = (message: string, hint: string): QrvError =>
  new QrvError('refused', 'instant-unsupported', message, hint);

function stopped(spec: HydrationSpec, progress: HydrationProgress): QrvError {
  return new QrvError(
    'io',
    'dm-state',
    `the copy onto ${spec.device} is ${progress.state} at ${percent(progress)}`,
    progress.state === 'inactive'
      ? 'its devices are gone (a reboot?): qrv volume activate'
      : 'a leg of the mirror failed: see dmsetup status; the volume still reads the copy',
  );
}
