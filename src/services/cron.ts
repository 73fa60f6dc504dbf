// `qrv cron`: the one command for cron or a systemd timer, run every few minutes. It takes the
// snapshots that schedules say are due, makes the copies that are due, and prunes. It is
// idempotent when nothing is due and prints nothing then; a second `qrv cron` started while one
// runs skips at once (exit 0, one line), so a long copy never piles runs up.
import type { CatalogData, Snapshot, Subclient, Volume } from '../catalog/schema.ts';
import { tryRunLock } from '../catalog/lock.ts';
import type { Context } from '../engine/context.ts';
import { endJob, withJob } from '../engine/job-recorder.ts';
import type { Summary } from '../output/printer.ts';
import { copyDue } from '../policy/copy-timing.ts';
import { findPolicy, policyFor } from '../policy/resolve.ts';
import { rulesFor } from '../policy/rules.ts';
import { scheduleDue } from '../policy/schedule.ts';
import { scanSnapshotHealth } from '../engine/snapshot-health.ts';
import { rediscover } from './discover.ts';
import { copyAndUnsnap, snapshotGroup, type Member } from './group.ts';
import { subclientTargets, writerOptions } from './app-objects.ts';
import { prune } from './prune.ts';
import { archive } from './archive.ts';
import { dueArchives } from './cron-archive.ts';
import { compareText } from '../core/text.ts';

interface DueGroup {
  label: string;
  subclient: Subclient | null;
  volumes: Volume[];
}

function newest(snapshots: Snapshot[]): Date | null {
  const times = snapshots.filter((s) => s.state !== 'failed').map((s) => Date.parse(s.createdAt));
  return times.length ? new Date(Math.max(...times)) : null;
}

/** Sub-clients whose policy schedule is due, and volumes whose own policy's schedule is due. */
export function dueGroups(data: CatalogData, now: Date): DueGroup[] {
  const groups: DueGroup[] = [];
  for (const subclient of data.subclients) {
    const policy = subclient.policy ? data.policies.find((p) => p.name === subclient.policy) : undefined;
    if (!policy?.schedule || (subclient.volumes.length === 0 && !subclient.objects?.length)) continue;
    // Never snapshotted: count from when the rule began (the later of the sub-client and its policy).
    const since =
      newest(data.snapshots.filter((s) => s.subclient === subclient.name)) ??
      new Date(Math.max(Date.parse(subclient.createdAt), Date.parse(policy.createdAt)));
    if (scheduleDue(policy.schedule, since, now)) {
      groups.push({
        label: `sub-client ${subclient.name}`,
        subclient,
        volumes: data.volumes.filter((v) => subclient.volumes.includes(v.name)),
      });
    }
  }
  for (const volume of data.volumes) {
    const policy = volume.policy ? data.policies.find((p) => p.name === volume.policy) : undefined;
    if (!policy?.schedule) continue;
    const since =
      newest(data.snapshots.filter((s) => s.volume === volume.name && s.subclient === null)) ??
      new Date(Math.max(Date.parse(volume.addedAt), Date.parse(policy.createdAt)));
    if (scheduleDue(policy.schedule, since, now))
      groups.push({ label: `volume ${volume.name}`, subclient: null, volumes: [volume] });
  }
  return groups;
}

/** Ready snapshots not yet copied whose policy says the copy is due now, oldest first. */
export function dueCopies(data: CatalogData, now: Date): Snapshot[] {
  const waiting = data.snapshots
    .filter((s) => s.state === 'ready' && s.copiedTo === null && s.policy !== null)
    .sort((a, b) => compareText(a.createdAt, b.createdAt));
  return waiting.filter((snapshot) => {
    const policy = data.policies.find((p) => p.name === snapshot.policy);
    if (!policy || policy.dest === null) return false;
    const newer = waiting.filter((s) => s.volume === snapshot.volume && s.createdAt > snapshot.createdAt).length;
    let timing;
    try {
      timing = rulesFor(policy).timing;
    } catch {
      return true; // a policy qrv now refuses: the copy's attempt reports it (policy-bad-value)
    }
    return copyDue(timing, new Date(snapshot.createdAt), now, newer);
  });
}

/** What a run says: a line for each thing done, and the failures, warned about at its end (exit partial). */
interface CronLog {
  lines: string[];
  failures: string[];
}

/** Snapshots one due group as one consistency group, its jobs ended. */
async function snapshotDueGroup(ctx: Context, data: CatalogData, group: DueGroup): Promise<Snapshot[]> {
  const { volumes, plan } = group.subclient
    ? await subclientTargets(data, group.subclient)
    : { volumes: group.volumes, plan: null };
  const members: Member[] = volumes.map((volume) => ({
    volume,
    rules: rulesFor(policyFor(data, volume, group.subclient ?? undefined)),
  }));
  const made = await snapshotGroup(ctx, members, {
    subclient: group.subclient?.name ?? null,
    label: null,
    force: false,
    ...(plan ? { writers: { plan, ...writerOptions(members) } } : {}),
  });
  for (const job of made.jobs) await endJob(job);
  return made.snapshots;
}

/** Takes the snapshots that schedules say are due; returns their ids. */
async function takeDueSnapshots(ctx: Context, log: CronLog): Promise<string[]> {
  const snapped: string[] = [];
  for (const group of dueGroups(await ctx.catalog.read(), ctx.now())) {
    const data = await ctx.catalog.read();
    try {
      const snapshots = await snapshotDueGroup(ctx, data, group);
      for (const s of snapshots) snapped.push(s.id);
      log.lines.push(`snapshot ${group.label}: ${snapshots.map((s) => `${s.id} of ${s.volume}`).join(', ')}`);
    } catch (error) {
      log.failures.push(`snapshot ${group.label}: ${(error as Error).message}`);
    }
  }
  return snapped;
}

/** Makes the copies that policies say are due, oldest first; returns the ids of the snapshots copied. */
async function makeDueCopies(ctx: Context, log: CronLog): Promise<string[]> {
  const copied: string[] = [];
  for (const snapshot of dueCopies(await ctx.catalog.read(), ctx.now())) {
    const data = await ctx.catalog.read();
    const volume = data.volumes.find((v) => v.name === snapshot.volume);
    if (!volume) continue;
    try {
      const member: Member = { volume, rules: rulesFor(findPolicy(data, snapshot.policy as string)) };
      const { result } = await withJob(ctx, 'copy', volume.name, (job) =>
        copyAndUnsnap(ctx, job, member, snapshot, { force: false, rollback: false }),
      );
      copied.push(snapshot.id);
      log.lines.push(
        `copied ${snapshot.id} of ${volume.name} to QRV ${result.qrv.id}${result.snapshot.state === 'removed' ? ', snapshot removed' : ''}`,
      );
    } catch (error) {
      log.failures.push(`copy ${snapshot.id} of ${volume.name}: ${(error as Error).message}`);
    }
  }
  return copied;
}

/** Sends the archive generations that are due (or resumes the unfinished ones); returns their ids. */
async function sendDueArchives(ctx: Context, log: CronLog): Promise<string[]> {
  const archived: string[] = [];
  for (const due of dueArchives(await ctx.catalog.read(), ctx.now())) {
    const what = due.resume ? `resume archive job ${due.resume}` : `archive ${due.sourceId} of ${due.volume}`;
    try {
      const done = await archive(ctx, due.resume ? { resume: due.resume } : { id: due.sourceId, to: due.store });
      const row = (done.data as { archive: { id: string } }).archive;
      archived.push(row.id);
      log.lines.push(
        `archived ${due.volume} to ${due.store} as ${row.id}${due.resume ? ` (resumed ${due.resume})` : ''}`,
      );
    } catch (error) {
      log.failures.push(`${what} to ${due.store}: ${(error as Error).message}`);
    }
  }
  return archived;
}

/** Prunes what lapsed; returns the ids removed. */
async function pruneLapsed(ctx: Context, log: CronLog): Promise<string[]> {
  const pruned = await prune(ctx, { dryRun: false });
  const prunedData = pruned.data as { removed: { id: string }[]; failed: { id: string; error: string }[] };
  log.lines.push(...pruned.lines.filter((line) => line.startsWith('removed ')));
  for (const f of prunedData.failed) log.failures.push(`prune ${f.id}: ${f.error}`);
  return prunedData.removed.map((r) => r.id);
}

export async function cron(ctx: Context): Promise<Summary> {
  const release = await tryRunLock(ctx.catalog.home, 'cron');
  if (!release) return { data: { skipped: true }, lines: ['another qrv cron is running in this home; skipped'] };
  try {
    const log: CronLog = { lines: [], failures: [] };
    const discovered = await rediscover(ctx);
    for (const volume of discovered) log.lines.push(`discovered volume ${volume.name} (${volume.path})`);
    const snapped = await takeDueSnapshots(ctx, log);
    const copied = await makeDueCopies(ctx, log);
    const archived = await sendDueArchives(ctx, log);
    const pruned = await pruneLapsed(ctx, log);

    // Snapshots kept between runs (persistence, incremental bases) fill their COW stores as the
    // volumes are written: say so while there is still time.
    const health = await scanSnapshotHealth(await ctx.catalog.read());
    log.failures.push(...health.invalid);
    for (const warning of health.filling) ctx.reporter.warn(warning);

    for (const failure of log.failures) ctx.reporter.warn(failure);
    return {
      data: {
        skipped: false,
        discovered: discovered.map((v) => v.name),
        snapshots: snapped,
        copied,
        archived,
        pruned,
        failures: log.failures,
        cowWarnings: health.filling,
      },
      lines: log.lines,
      ...(log.failures.length ? { exit: 'partial' as const } : {}),
    };
  } finally {
    await release().catch(() => undefined);
  }
}
