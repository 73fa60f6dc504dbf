// F3: pre-copy hook → create or update the QRV from the snapshot (never the live volume) → verify
// the destination against the hashes of what was read → mark the QRV ready → post-copy hook.
// An update writes only the blocks that changed, known from the provider's changed ranges or the
// QRV's hash ledger; without a usable ledger every block is compared (F3, docs/architecture.md).
import { plainCopy } from '../catalog/tracked.ts';
import { unlink, type FileHandle } from 'node:fs/promises';
import type { CopyProgress, Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import { replicate, DEFAULT_BLOCK_SIZE, type CopyResult, type ReplicateOptions } from '../copy/replicate.ts';
import { startUndo, type Undo } from './undo.ts';
import { verifyBlocks } from '../copy/verify.ts';
import { QrvError } from '../core/errors.ts';
import { failpoint } from '../core/failpoints.ts';
import { newId } from '../core/ids.ts';
import { RateLimit, rateText } from '../core/rate.ts';
import { LedgerWriter, ledgerPathFor } from '../ledger/ledger.ts';
import { getProvider } from '../providers/registry.ts';
import type { Context } from './context.ts';
import { openChecked, resolveTarget } from './destination.ts';
import { reserveMember } from '../pools/reserve.ts';
import { withHookPair } from './hook-pair.ts';
import type { JobRecorder } from './job-recorder.ts';
import { idTaken } from '../catalog/lookup.ts';
import { checkSnapshotHealth } from './snapshot-health.ts';
import { refuseWhileHydrating } from './recovery-state.ts';
import {
  alreadyCopied,
  openLedgers,
  type Copying,
  type CopyPhaseOptions,
  type Ledgers,
  type Target,
} from './copy-base.ts';

export type { CopyPhaseOptions, ResumePoint } from './copy-base.ts';

/** How often a running copy saves its progress (destination and ledger flushed first). */
export const CHECKPOINT_MS = Number(process.env.QRV_CHECKPOINT_MS ?? 5000);

export interface CopyOutcome {
  qrv: Qrv;
  copy: CopyResult;
  /** the snapshot the QRV reflected before this copy, when it was updated */
  previousSnapshotId: string | null;
}

export async function copyPhase(
  ctx: Context,
  job: JobRecorder,
  volume: Volume,
  snapshot: Snapshot,
  options: CopyPhaseOptions,
): Promise<CopyOutcome> {
  const { resume } = options;
  const data = await ctx.catalog.read();
  const newQrvId = newId('q', idTaken(data));
  // A pool QRV is reached through its pool (a member given as a path is refused).
  const to = resume ? (resume.qrv.pool ? `pool:${resume.qrv.pool}` : resume.qrv.destination) : options.to;
  const dest = await job.step(
    'copy',
    'check destination',
    () =>
      resolveTarget(data, ctx.catalog.home, { volume, source: snapshot, to, force: options.force, qrvId: newQrvId }),
    (d) => `${d.path} (${d.kind}${d.existing ? `, updates ${d.existing.id}` : ', new QRV'})`,
  );
  if (dest.existing) refuseWhileHydrating(data, volume.name, `cannot update QRV ${dest.existing.id}`, dest.existing.id);
  if (resume && dest.existing?.id !== resume.qrv.id) {
    throw new QrvError(
      'refused',
      'resume-changed',
      `destination ${to} no longer holds QRV ${resume.qrv.id}`,
      'run the copy again without --resume',
    );
  }
  const env = {
    jobId: job.id,
    volume: volume.name,
    device: volume.path,
    snapshotId: snapshot.id,
    snapshotPath: snapshot.path,
    destination: dest.path,
  };

  if (getProvider(snapshot.provider).snapshotHealth)
    await job.step(
      'copy',
      'check snapshot',
      () => checkSnapshotHealth(job, volume, snapshot, 'before'),
      () => `${snapshot.id} is valid`,
    );
  const pair = {
    phase: 'copy' as const,
    pre: 'pre-copy' as const,
    post: 'post-copy' as const,
    hooks: options.hooks,
    timeoutMs: options.hookTimeoutMs,
  };
  const c: Copying = { ctx, job, volume, snapshot, options, resume };
  return withHookPair(
    ctx,
    job,
    pair,
    () => env,
    () => copyToDestination(c, dest, newQrvId),
  );
}

/**
 * Opens the destination once, after the pre-copy hook (openChecked: as it was planned, no symlink
 * followed), and copies through that descriptor. A file it created is removed again when the
 * copy stops before the QRV was recorded.
 */
async function copyToDestination(c: Copying, dest: Target, newQrvId: string): Promise<CopyOutcome> {
  const handle = await openChecked(await c.ctx.catalog.read(), c.ctx.catalog.home, dest, 'destination', {
    qrvOf: c.volume.name,
    poolMember: dest.pool !== null,
  });
  const opened = { handle, begun: false };
  try {
    return await copyThrough(c, dest, opened, newQrvId);
  } catch (error) {
    if (!opened.begun && dest.planned === null) await unlink(dest.path).catch(() => undefined);
    throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The copy under way: what its steps share, and what a failure must keep or undo. */
interface Run extends Ledgers {
  c: Copying;
  dest: Target;
  opened: { handle: FileHandle; begun: boolean };
  qrv: Qrv;
  ledgerPath: string;
  /** progress was saved with the partial ledger: a failure keeps it for a resume */
  saved: boolean;
  undo: Undo | null;
  /** --throttle: one rate for the copy and its read-back */
  rate: RateLimit | null;
}

/** Records the QRV as copying, copies, verifies, and records it ready (or failed). */
async function copyThrough(
  c: Copying,
  dest: Target,
  opened: { handle: FileHandle; begun: boolean },
  newQrvId: string,
): Promise<CopyOutcome> {
  const qrv = qrvRow(c, dest, newQrvId);
  const ledgerPath = ledgerPathFor(qrv, c.ctx.catalog.home);
  const ledgers = await openLedgers(c, dest, qrv, ledgerPath);
  const rate = c.options.throttle ? new RateLimit(c.options.throttle) : null;
  const run: Run = { c, dest, opened, qrv, ledgerPath, ...ledgers, saved: false, undo: null, rate };
  if (run.plan.why) await c.job.warn(run.plan.why);
  c.job.set({ snapshotId: c.snapshot.id, qrvId: qrv.id, destination: dest.path });
  await recordCopying(run);
  try {
    const copy = await copyStep(run);
    // Data read from a snapshot that overflowed during the copy is not its point in time.
    await checkSnapshotHealth(c.job, c.volume, c.snapshot, 'after');
    await verifyStep(run, copy);
    await commitReady(run, copy);
    return { qrv: plainCopy(qrv), copy, previousSnapshotId: dest.existing ? dest.existing.snapshotId : null };
  } catch (error) {
    await recordFailed(run);
    throw error;
  } finally {
    if (run.plan.base.kind === 'ledger') await run.plan.base.ledger.close();
  }
}

/** The QRV row this copy makes or updates, marked copying. */
function qrvRow(c: Copying, dest: Target, newQrvId: string): Qrv {
  const now = c.ctx.now().toISOString();
  if (dest.existing) return { ...plainCopy(dest.existing), state: 'copying', updatedAt: now };
  return {
    id: newQrvId,
    volume: c.volume.name,
    snapshotId: c.snapshot.id,
    destination: dest.path,
    destinationKind: dest.kind,
    state: 'copying',
    sizeBytes: c.snapshot.sizeBytes,
    blockSize: DEFAULT_BLOCK_SIZE,
    checksum: null,
    ledger: null,
    createdAt: now,
    updatedAt: now,
    history: [],
    pool: dest.pool,
    lastVerify: null,
  };
}

/** What a resume needs, the hooks included: a resumed copy runs them as the killed one would have. */
function progressOf(run: Run, blocksDone: number): CopyProgress {
  const { options } = run.c;
  const hooks = {
    ...(options.hooks['pre-copy'] ? { 'pre-copy': options.hooks['pre-copy'] } : {}),
    ...(options.hooks['post-copy'] ? { 'post-copy': options.hooks['post-copy'] } : {}),
  };
  return {
    base: run.plan.kind,
    baseSnapshotId: run.plan.baseSnapshotId,
    blocksDone,
    blockSize: run.qrv.blockSize,
    sizeBytes: run.c.snapshot.sizeBytes,
    ledger: run.ledgerPath,
    at: run.c.ctx.now().toISOString(),
    hooks,
    hookTimeoutMs: options.hookTimeoutMs,
    ...(options.throttle ? { throttle: options.throttle } : {}),
  };
}

/**
 * Starts the undo journal, then records the QRV as copying (and reserves its pool member in the
 * same transaction). A failure here closes what was opened and changes nothing.
 */
async function recordCopying(run: Run): Promise<void> {
  const { c, dest, qrv } = run;
  try {
    // Before the QRV is marked copying: a kill from here on leaves what a roll-back needs.
    run.undo = await startUndo(dest.existing, run.ledgerPath, c.snapshot.sizeBytes);
    await c.job.begin((catalog) => {
      if (dest.pool && !c.resume) {
        // Reserved in the same transaction that records the QRV, so no other QRV can take it.
        const member = reserveMember(catalog, dest.pool, c.volume.name, c.snapshot.sizeBytes, qrv.id);
        if (member.path !== dest.path)
          throw new QrvError(
            'busy',
            'pool-changed',
            `pool "${dest.pool}" changed while the copy was being prepared`,
            'run the copy again',
          );
      }
      replaceQrv(catalog.qrvs, qrv);
    });
    run.opened.begun = true;
    // A resumed copy carries its progress over at once, so that it can be resumed again; a new
    // one records progress from its first checkpoint on.
    if (c.resume) await c.job.saveProgress(progressOf(run, run.startBlock));
    run.saved = c.resume !== undefined;
  } catch (error) {
    if (run.plan.base.kind === 'ledger') await run.plan.base.ledger.close();
    await (c.resume ? run.ledgerOut?.close() : run.ledgerOut?.discard());
    await run.undo?.abandon();
    throw error;
  }
}

/** Copies the blocks (or, when a resumed copy had finished them, only notes that). */
async function copyStep(run: Run): Promise<CopyResult> {
  const { c, plan, finished } = run;
  const title = finished
    ? 'copy already done'
    : c.resume
      ? `resume copy at block ${run.startBlock}`
      : plan.kind === 'fresh'
        ? 'copy blocks'
        : 'copy changed blocks';
  return c.job.step(
    'copy',
    title,
    async () => (finished ? alreadyCopied(plan, finished) : replicate(replicateOptions(run))),
    (r) =>
      `${r.method}: ${r.bytesRead} bytes read, ${r.changedBlocks} blocks (${r.bytesWritten} bytes) written, ${(r.bytesRead / 1e6 / Math.max(r.seconds, 1e-6)).toFixed(0)} MB/s${run.rate ? ` (--throttle ${rateText(run.rate.bytesPerSecond)})` : ''}`,
  );
}

function replicateOptions(run: Run): ReplicateOptions {
  const { c, dest } = run;
  return {
    source: c.snapshot.path,
    destination: dest.path,
    destinationHandle: run.opened.handle,
    sizeBytes: c.snapshot.sizeBytes,
    destinationKind: dest.kind,
    base: run.plan.base,
    ledgerOut: run.ledgerOut as LedgerWriter,
    startBlock: run.startBlock,
    undo: run.undo?.journal ?? null,
    blockSize: run.qrv.blockSize,
    reporter: c.ctx.reporter,
    phase: 'copy',
    rate: run.rate,
    checkpoint: {
      everyMs: CHECKPOINT_MS,
      save: async (p) => {
        await c.job.saveProgress(progressOf(run, p.blocksDone));
        run.saved = true;
      },
    },
  };
}

/**
 * A fresh, compared or resumed copy is read back whole; an update only where it wrote (the
 * blocks it kept were verified when they were written, and `qrv verify` re-reads them all).
 */
async function verifyStep(run: Run, copy: CopyResult): Promise<void> {
  const { c, dest, qrv, plan } = run;
  const whole = plan.kind === 'fresh' || plan.kind === 'compare' || c.resume !== undefined || copy.written === null;
  await c.job.step(
    'verify',
    whole ? 'read back every block' : 'read back written blocks',
    async () => {
      const result = await verifyBlocks({
        path: dest.path,
        handle: run.opened.handle,
        ledgerPath: run.ledgerPath,
        ranges: whole ? undefined : (copy.written ?? undefined),
        rate: run.rate,
        reporter: c.ctx.reporter,
        phase: 'verify',
      });
      if (result.bad.length > 0) {
        throw new QrvError(
          'verify',
          'verify-mismatch',
          `QRV ${qrv.id} at ${dest.path} does not match snapshot ${c.snapshot.id}: ${result.badCount} blocks differ (first at byte ${(result.bad[0] as number) * qrv.blockSize})`,
          'check the destination disk; run the copy again',
        );
      }
      return result;
    },
    (r) => `${r.bytesChecked} bytes match the snapshot (${copy.checksum})`,
  );
}

/** Records the QRV ready at the snapshot, then lets the undo journal go. */
async function commitReady(run: Run, copy: CopyResult): Promise<void> {
  const { c, qrv } = run;
  const { job, snapshot } = c;
  // it reflects this snapshot now, and holds that snapshot's application objects (F13)
  if (snapshot.objects.length) qrv.objects = plainCopy(snapshot.objects);
  else delete qrv.objects;
  Object.assign(qrv, {
    state: 'ready' as const,
    snapshotId: snapshot.id,
    sizeBytes: snapshot.sizeBytes,
    checksum: copy.checksum,
    ledger: run.ledgerPath,
    lastVerify: null,
    updatedAt: c.ctx.now().toISOString(),
    history: [
      ...qrv.history,
      {
        snapshotId: snapshot.id,
        at: c.ctx.now().toISOString(),
        method: copy.method,
        bytesRead: copy.bytesRead,
        bytesWritten: copy.bytesWritten,
        changedBlocks: copy.changedBlocks,
        seconds: copy.seconds,
        jobId: job.id,
        resumed: c.resume !== undefined,
      },
    ],
  });
  await failpoint('before-commit');
  job.clearProgress();
  await job.commit((catalog) => {
    replaceQrv(catalog.qrvs, qrv);
    const source = catalog.snapshots.find((s) => s.id === snapshot.id);
    if (source) source.copiedTo = qrv.id;
  });
  // Committed: a journal that cannot be removed now is a stale one for doctor, not a failure.
  await run.undo
    ?.committed()
    .catch((error: Error) =>
      job.warn(
        `the undo journal of QRV ${qrv.id} could not be removed: ${error.message} (\`qrv doctor --fix\` removes it)`,
      ),
    );
}

/** Marks the QRV failed, keeping what a resume or a roll-back needs, and says so. */
async function recordFailed(run: Run): Promise<void> {
  const { c, dest, qrv, saved, undo } = run;
  qrv.state = 'failed';
  qrv.updatedAt = c.ctx.now().toISOString();
  // Keep what a resume needs: the partial ledger, once progress was saved with it.
  if (saved) await run.ledgerOut?.close();
  else await run.ledgerOut?.discard();
  await undo?.journal.close();
  const back = undo
    ? `; \`qrv doctor --fix\` ${saved ? 'resumes it or ' : ''}rolls it back to ${dest.existing?.snapshotId}`
    : '';
  await c.job.warn(
    `destination ${dest.path} holds an incomplete copy; QRV ${qrv.id} is marked failed${saved ? `; resume it with \`qrv copy --resume ${c.job.id}\`` : ''}${back}`,
  );
  await c.job.commit((catalog) => replaceQrv(catalog.qrvs, qrv));
}

export function replaceQrv(rows: Qrv[], row: Qrv): void {
  const at = rows.findIndex((r) => r.id === row.id);
  if (at >= 0) rows[at] = plainCopy(row);
  else rows.push(plainCopy(row));
}
