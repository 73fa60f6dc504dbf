// F3: pre-copy hook → copy the snapshot (never the live volume) to the destination → verify the
// destination against the checksum of what was read → mark the QRV ready → post-copy hook.
import type { Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import { copyImage, checksumImage, type CopyResult } from '../copy/block-copy.ts';
import { QrvError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Context } from './context.ts';
import { resolveTarget, type Destination } from './destination.ts';
import { reserveMember } from '../pools/reserve.ts';
import type { Hooks } from './hooks.ts';
import { withHookPair } from './hook-pair.ts';
import type { JobRecorder } from './job-recorder.ts';
import { idTaken } from './lookup.ts';

export const DEFAULT_BLOCK_SIZE = 64 * 1024;

export interface CopyPhaseOptions {
  to: string;
  force: boolean;
  hooks: Hooks;
  hookTimeoutMs: number;
}

export interface CopyOutcome {
  qrv: Qrv;
  copy: CopyResult;
}

export async function copyPhase(ctx: Context, job: JobRecorder, volume: Volume, snapshot: Snapshot, options: CopyPhaseOptions): Promise<CopyOutcome> {
  const data = await ctx.catalog.read();
  const newQrvId = newId('q', idTaken(data));
  const dest = await job.step('copy', 'check destination', () => resolveTarget(data, volume, snapshot, options.to, options.force, newQrvId), (d) => `${d.path} (${d.kind}${d.existing ? `, updates ${d.existing.id}` : ', new QRV'})`);
  const env = { jobId: job.id, volume: volume.name, device: volume.path, snapshotId: snapshot.id, snapshotPath: snapshot.path, destination: dest.path };

  const pair = { phase: 'copy' as const, pre: 'pre-copy' as const, post: 'post-copy' as const, hooks: options.hooks, timeoutMs: options.hookTimeoutMs };
  return withHookPair(ctx, job, pair, () => env, () => copyToDestination(ctx, job, volume, snapshot, dest, newQrvId));
}

/** Records the QRV as copying, copies, verifies, and records it ready (or failed). */
async function copyToDestination(ctx: Context, job: JobRecorder, volume: Volume, snapshot: Snapshot, dest: Destination & { pool: string | null }, newQrvId: string): Promise<CopyOutcome> {
  const now = ctx.now().toISOString();
  const qrv: Qrv = dest.existing
    ? { ...structuredClone(dest.existing), state: 'copying', updatedAt: now }
    : {
        id: newQrvId,
        volume: volume.name,
        snapshotId: snapshot.id,
        destination: dest.path,
        destinationKind: dest.kind,
        state: 'copying',
        sizeBytes: snapshot.sizeBytes,
        blockSize: DEFAULT_BLOCK_SIZE,
        checksum: null,
        ledger: null,
        createdAt: now,
        updatedAt: now,
        history: [],
        pool: dest.pool,
      };
  job.set({ snapshotId: snapshot.id, qrvId: qrv.id, destination: dest.path });
  await job.begin((catalog) => {
    if (dest.pool) {
      // Reserved in the same transaction that records the QRV, so no other QRV can take it.
      const member = reserveMember(catalog, dest.pool, volume.name, snapshot.sizeBytes, qrv.id);
      if (member.path !== dest.path) throw new QrvError('busy', 'pool-changed', `pool "${dest.pool}" changed while the copy was being prepared`, 'run the copy again');
    }
    replaceQrv(catalog.qrvs, qrv);
  });

  try {
    const copy = await job.step(
      'copy',
      'copy blocks',
      () => copyImage({ source: snapshot.path, destination: dest.path, sizeBytes: snapshot.sizeBytes, destinationKind: dest.kind, reporter: ctx.reporter, phase: 'copy', blockSize: qrv.blockSize }),
      (r) => `${r.bytesRead} bytes read, ${r.bytesWritten} written, ${r.zeroBytesSkipped} zero bytes skipped, ${(r.bytesRead / 1e6 / Math.max(r.seconds, 1e-6)).toFixed(0)} MB/s`,
    );
    await job.step('verify', 'compare checksums', async () => {
      const actual = await checksumImage(dest.path, snapshot.sizeBytes, ctx.reporter, 'verify');
      if (actual !== copy.checksum) {
        throw new QrvError('verify', 'verify-mismatch', `QRV ${qrv.id} at ${dest.path} does not match snapshot ${snapshot.id} (${actual} ≠ ${copy.checksum})`, 'check the destination disk; run the copy again');
      }
      return actual;
    }, (sum) => `destination matches the snapshot (${sum})`);
    Object.assign(qrv, {
      state: 'ready' as const,
      snapshotId: snapshot.id,
      sizeBytes: snapshot.sizeBytes,
      checksum: copy.checksum,
      updatedAt: ctx.now().toISOString(),
      history: [
        ...qrv.history,
        { snapshotId: snapshot.id, at: ctx.now().toISOString(), method: 'full', bytesRead: copy.bytesRead, bytesWritten: copy.bytesWritten, seconds: copy.seconds, jobId: job.id },
      ],
    });
    await job.commit((catalog) => {
      replaceQrv(catalog.qrvs, qrv);
      const source = catalog.snapshots.find((s) => s.id === snapshot.id);
      if (source) source.copiedTo = qrv.id;
    });
    return { qrv: structuredClone(qrv), copy };
  } catch (error) {
    qrv.state = 'failed';
    qrv.updatedAt = ctx.now().toISOString();
    await job.warn(`destination ${dest.path} holds an incomplete copy; QRV ${qrv.id} is marked failed`);
    await job.commit((catalog) => replaceQrv(catalog.qrvs, qrv));
    throw error;
  }
}

export function replaceQrv(rows: Qrv[], row: Qrv): void {
  const at = rows.findIndex((r) => r.id === row.id);
  if (at >= 0) rows[at] = structuredClone(row);
  else rows.push(structuredClone(row));
}
