// How a copy knows what its destination holds before it writes (F3): nothing (a new QRV), every
// block compared, or the QRV's hash ledger, with the provider's changed ranges when it has them;
// on resume, the base the killed copy was building on and its partial ledger (copy-phase.ts).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, CopyProgress, Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import type { Base, CopyResult } from '../copy/replicate.ts';
import type { ByteRange } from '../core/byte-range.ts';
import { QrvError } from '../core/errors.ts';
import {
  LedgerError,
  LedgerReader,
  LedgerWriter,
  ledgerChecksum,
  ledgerPathFor,
  type LedgerHeader,
} from '../ledger/ledger.ts';
import type { Hooks } from '../policy/hooks.ts';
import { volumeRef } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import type { Context } from './context.ts';
import type { Destination } from './destination.ts';
import type { JobRecorder } from './job-recorder.ts';

export interface CopyPhaseOptions {
  /** set when the copy picks up a killed one (qrv copy --resume) */
  resume?: ResumePoint;
  to: string;
  force: boolean;
  hooks: Hooks;
  hookTimeoutMs: number;
  /** update an existing QRV with changed blocks only; false rewrites it in full */
  incremental: boolean;
  /** --throttle: bytes a second the copy and its read-back may read at most; null or absent: no limit */
  throttle?: number | null;
}

/** A copy to pick up again: what the killed job had done (qrv copy --resume). */
export interface ResumePoint {
  jobId: string;
  progress: CopyProgress;
  qrv: Qrv;
}

/** What one copy's steps share. */
export interface Copying {
  ctx: Context;
  job: JobRecorder;
  volume: Volume;
  snapshot: Snapshot;
  options: CopyPhaseOptions;
  /** set when the copy picks up a killed one (qrv copy --resume) */
  resume: ResumePoint | undefined;
}

export type Target = Destination & { pool: string | null };

/** How the destination's current content is known, and the warning to give when it is not. */
export interface Plan {
  base: Base;
  kind: CopyProgress['base'];
  baseSnapshotId: string | null;
  why: string | null;
}

function comparePlan(why: string): Plan {
  return { base: { kind: 'compare' }, kind: 'compare', baseSnapshotId: null, why: `${why}; comparing every block` };
}

async function chooseBase(c: Copying, data: CatalogData, existing: Qrv | null): Promise<Plan> {
  if (!existing) return { base: { kind: 'fresh' }, kind: 'fresh', baseSnapshotId: null, why: null };
  // A full rewrite of a QRV compares every block instead of cutting the file to holes first: the
  // previous point in time stays whole (the undo journal keeps what is overwritten) until the
  // new one is committed.
  if (!c.options.incremental) return { base: { kind: 'compare' }, kind: 'compare', baseSnapshotId: null, why: null };
  if (existing.state !== 'ready')
    return comparePlan(`QRV ${existing.id} was left ${existing.state} by an unfinished copy`);
  if (existing.lastVerify && !existing.lastVerify.ok)
    return comparePlan(`QRV ${existing.id} failed its last verify (${existing.lastVerify.badBlocks} bad blocks)`);
  return ledgerPlan(c, data, existing, existing.snapshotId, true);
}

/** The base a killed copy was building on, opened again (a ledger that is gone means comparing). */
async function resumeBase(c: Copying, data: CatalogData, resume: ResumePoint): Promise<Plan> {
  const { progress, qrv } = resume;
  if (progress.base === 'fresh') return { base: { kind: 'fresh' }, kind: 'fresh', baseSnapshotId: null, why: null };
  if (progress.base === 'compare' || !progress.baseSnapshotId)
    return { base: { kind: 'compare' }, kind: 'compare', baseSnapshotId: null, why: null };
  return ledgerPlan(c, data, qrv, progress.baseSnapshotId, progress.base === 'provider');
}

/**
 * The QRV's ledger (which must describe `baseSnapshotId` and the QRV's size) as the base, with
 * the provider's changed ranges when asked and it has them; a ledger that cannot be used means
 * comparing every block, with the reason.
 */
async function ledgerPlan(
  c: Copying,
  data: CatalogData,
  qrv: Qrv,
  baseSnapshotId: string,
  askProvider: boolean,
): Promise<Plan> {
  const path = qrv.ledger ?? ledgerPathFor(qrv, c.ctx.catalog.home);
  let ledger: LedgerReader;
  try {
    ledger = await LedgerReader.open(path, {
      snapshotId: baseSnapshotId,
      sizeBytes: qrv.sizeBytes,
      blockSize: qrv.blockSize,
      qrvId: qrv.id,
    });
  } catch (error) {
    if (error instanceof LedgerError)
      return comparePlan(
        `the ledger of QRV ${qrv.id} cannot be used: ${error.message}`,
      ) /* the message names the file */;
    throw error;
  }
  const ranges = askProvider ? await providerRanges(data, c.volume, baseSnapshotId, c.snapshot) : null;
  return { base: { kind: 'ledger', ledger, ranges }, kind: ranges ? 'provider' : 'ledger', baseSnapshotId, why: null };
}

/** The provider's answer to "what changed since the snapshot the QRV reflects", when it has one. */
export async function providerRanges(
  data: CatalogData,
  volume: Volume,
  fromId: string,
  to: Snapshot,
): Promise<ByteRange[] | null> {
  const from = data.snapshots.find((s) => s.id === fromId);
  if (!from || from.state !== 'ready' || from.provider !== to.provider || from.volume !== to.volume) return null;
  const provider = getProvider(to.provider);
  if (!provider.changedRanges) return null;
  return provider.changedRanges(volumeRef(volume), from, to).catch(() => null);
}

/** What the destination holds (on resume: what the killed copy was building on) and the ledger being written. */
export interface Ledgers {
  plan: Plan;
  ledgerOut: LedgerWriter | null;
  /** set when a resumed copy had already written all blocks and its ledger (killed while verifying) */
  finished: LedgerHeader | null;
  startBlock: number;
}

/** The base to copy against and the ledger to write: a new one, or the killed copy's partial one. */
export async function openLedgers(c: Copying, dest: Target, qrv: Qrv, ledgerPath: string): Promise<Ledgers> {
  const data = await c.ctx.catalog.read();
  const header = {
    blockSize: qrv.blockSize,
    sizeBytes: c.snapshot.sizeBytes,
    snapshotId: c.snapshot.id,
    qrvId: qrv.id,
  };
  if (!c.resume) {
    const plan = await chooseBase(c, data, dest.existing);
    // A device QRV's ledger lives in the qrv home; a file QRV's beside it, in a folder that exists.
    if (dest.kind === 'block') await mkdir(path.dirname(ledgerPath), { recursive: true, mode: 0o700 });
    return { plan, ledgerOut: await LedgerWriter.create(ledgerPath, header), finished: null, startBlock: 0 };
  }
  const resume = c.resume;
  const plan = await resumeBase(c, data, resume);
  try {
    const ledgerOut = await LedgerWriter.resume(ledgerPath, header, resume.progress.blocksDone);
    return { plan, ledgerOut, finished: null, startBlock: resume.progress.blocksDone };
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    const finished = await finishedLedger(ledgerPath, header);
    if (finished) return { plan, ledgerOut: null, finished, startBlock: finished.blockCount };
    if (plan.base.kind === 'ledger') await plan.base.ledger.close();
    throw new QrvError(
      'refused',
      'resume-impossible',
      `the copy of job ${resume.jobId} cannot be resumed: its partial ledger cannot be used: ${error.message}`,
      `run the copy again without --resume (it compares every block instead)`,
    );
  }
}

/** The ledger a resumed copy finished before it was killed, if it is complete and describes this copy. */
async function finishedLedger(
  path: string,
  header: { blockSize: number; sizeBytes: number; snapshotId: string; qrvId: string },
): Promise<LedgerHeader | null> {
  try {
    const reader = await LedgerReader.open(path, header);
    await reader.close();
    return reader.header;
  } catch (error) {
    if (error instanceof LedgerError) return null;
    throw error;
  }
}

/** Killed after the last block and the ledger were written: only the read-back is left. */
export function alreadyCopied(plan: Plan, finished: LedgerHeader): CopyResult {
  return {
    method: plan.kind === 'fresh' || plan.kind === 'compare' ? ('full' as const) : plan.kind,
    bytesRead: 0,
    bytesWritten: 0,
    changedBlocks: 0,
    zeroBytesSkipped: 0,
    checksum: ledgerChecksum(finished.bodyChecksum),
    written: null,
    seconds: 0,
  };
}
