// `qrv run TARGET [--to DEST]`: every phase in one process, for a volume or a whole sub-client,
// following each volume's policy (its own, else the sub-client's) with the command line on top.
// All volumes are snapshotted under one group id first, then copied when their copy is due now
// (with --to, or policy --copy now); a later copy is left to `qrv cron`. A copy that fails
// removes the snapshot this run made (the system is left as it was) unless it is to be kept.
import type { CatalogData, Subclient, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { resolveTarget } from '../engine/destination.ts';
import { endJob } from '../engine/job-recorder.ts';
import { findVolume } from '../catalog/lookup.ts';
import { volumeRef } from '../providers/provider.ts';
import type { Summary } from '../output/printer.ts';
import { copyLines, snapshotLine } from '../output/rows.ts';
import { policyFor } from '../policy/resolve.ts';
import { rulesFor, type Overrides } from '../policy/rules.ts';
import { getProvider } from '../providers/registry.ts';
import { rediscover } from './discover.ts';
import { copyAndUnsnap, snapshotGroup, type Member, type Outcome } from './group.ts';
import { subclientTargets, writerOptions } from './app-objects.ts';
import type { WriterPlan } from '../engine/writer-hold.ts';

export interface RunRequest extends Overrides {
  target: string;
  label: string | null;
  force: boolean;
}

async function resolveRunTarget(
  data: CatalogData,
  target: string,
): Promise<{ volumes: Volume[]; via: Subclient | null; plan: WriterPlan | null }> {
  const subclient = data.subclients.find((s) => s.name === target);
  if (subclient) {
    if (subclient.volumes.length === 0 && !subclient.objects?.length)
      throw new QrvError(
        'refused',
        'subclient-empty',
        `sub-client "${target}" has no volumes`,
        `add some with \`qrv subclient set ${target} --add VOLUME\` or \`--object WRITER:OBJECT\``,
      );
    return { ...(await subclientTargets(data, subclient)), via: subclient };
  }
  return { volumes: [findVolume(data, target)], via: null, plan: null };
}

/** Checks every member's destination before any snapshot is taken: a refusal changes nothing. */
async function preflight(data: CatalogData, home: string, members: Member[], request: RunRequest): Promise<void> {
  for (const { volume, rules } of members) {
    if (rules.timing.mode === 'now' && rules.dest === null && rules.policy === null) {
      throw new QrvError(
        'usage',
        'no-destination',
        `volume "${volume.name}" has no policy and no --to`,
        'give --to DEST, or a policy with --dest',
      );
    }
    if (
      request.persistMs !== undefined &&
      rules.removeAfterCopy &&
      rules.timing.mode === 'now' &&
      rules.dest !== null
    ) {
      throw new QrvError(
        'usage',
        'persist-without-keep',
        '--persist has no effect here: run removes the snapshot after the copy',
        'add --keep-snapshot to keep it for that long',
      );
    }
    if (rules.timing.mode !== 'now' || rules.dest === null) continue;
    const facts = await getProvider(volume.provider).inspect(volumeRef(volume));
    await resolveTarget(data, home, {
      volume,
      source: { path: volume.path, sizeBytes: facts.sizeBytes },
      to: rules.dest,
      force: request.force,
      qrvId: 'q-00000000',
    });
  }
}

/** Why a member's copy is not made by this run (policy or no destination), or null when it is. */
function deferredBecause(data: CatalogData, member: Member): string | null {
  const { rules } = member;
  if (rules.timing.mode === 'now' && rules.dest !== null) return null;
  if (rules.dest === null) return 'the policy has no --dest';
  if (rules.timing.mode === 'never') return `policy ${rules.policy} never copies (--copy never)`;
  const copyRule = data.policies.find((p) => p.name === rules.policy)?.copy ?? '';
  return `policy ${rules.policy} copies ${copyRule}; qrv cron makes the copy`;
}

function runSummary(groupId: string, outcomes: Outcome[]): Summary {
  const lines = outcomes.flatMap((o) => [
    ...(o.snapshot ? [`snapshot ${snapshotLine(o.snapshot)}`] : []),
    ...(o.qrv && o.copy ? copyLines(o.qrv, o.copy) : []),
    ...(o.deferred ? [`copy of ${o.volume} deferred: ${o.deferred}`] : []),
    `job ${o.job.id} ${o.job.state}`,
  ]);
  const first = outcomes[0]!;
  const failed = outcomes.filter((o) => o.error);
  return {
    data: {
      groupId,
      job: first.job,
      snapshot: first.snapshot,
      qrv: first.qrv,
      copy: first.copy,
      jobs: outcomes.map((o) => o.job),
      snapshots: outcomes.map((o) => o.snapshot),
      qrvs: outcomes.flatMap((o) => (o.qrv ? [o.qrv] : [])),
    },
    lines: failed.length ? [...lines, `${failed.length} of ${outcomes.length} volume(s) failed`] : lines,
    ...(failed.length ? { exit: 'partial' as const } : {}),
  };
}

export async function run(ctx: Context, request: RunRequest): Promise<Summary> {
  await rediscover(ctx);
  const data = await ctx.catalog.read();
  const { volumes, via, plan } = await resolveRunTarget(data, request.target);
  const members: Member[] = volumes.map((volume) => ({
    volume,
    rules: rulesFor(policyFor(data, volume, via ?? undefined), request),
  }));
  await preflight(data, ctx.catalog.home, members, request);

  const group = await snapshotGroup(ctx, members, {
    subclient: via?.name ?? null,
    label: request.label,
    force: request.force,
    ...(plan ? { writers: { plan, ...writerOptions(members) } } : {}),
  });
  const outcomes: Outcome[] = [];
  for (const [index, member] of members.entries()) {
    const job = group.jobs[index]!;
    const snapshot = group.snapshots[index]!;
    const base = { volume: member.volume.name, snapshot, qrv: null, copy: null, deferred: null, error: null };
    const deferred = deferredBecause(data, member);
    if (deferred !== null) {
      job.skip('copy', 'copy', deferred);
      outcomes.push({ ...base, job: await endJob(job), deferred });
      continue;
    }
    try {
      const done = await copyAndUnsnap(ctx, job, member, snapshot, { force: request.force, rollback: true });
      outcomes.push({ ...base, ...done, job: await endJob(job) });
    } catch (error) {
      const now = (await ctx.catalog.read()).snapshots.find((s) => s.id === snapshot.id) ?? snapshot;
      outcomes.push({ ...base, snapshot: now, job: await endJob(job, error), error: error as Error });
      if (members.length === 1) throw error;
      ctx.reporter.warn(`volume ${member.volume.name}: ${(error as Error).message}`);
    }
  }
  return runSummary(group.groupId, outcomes);
}
