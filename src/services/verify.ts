// `qrv verify QRV [--deep] [--throttle RATE]`: re-reads a QRV and checks every block against the hash ledger kept
// with it, without touching the source; --deep also reads the snapshot it reflects (when that
// still exists) in step and compares the two. Every bad block is named; the result is kept on
// the QRV row (a QRV that failed its verify is compared block by block on its next update).
import { QrvError } from '../core/errors.ts';
import { formatBytes } from '../core/duration.ts';
import { RateLimit } from '../core/rate.ts';
import { verifyBlocks, MAX_LISTED, type VerifyOutcome } from '../copy/verify.ts';
import type { CatalogData, Qrv } from '../catalog/schema.ts';
import type { Context } from '../engine/context.ts';
import { findQrv } from '../catalog/lookup.ts';
import { LedgerError, ledgerPathFor } from '../ledger/ledger.ts';
import type { Summary } from '../output/printer.ts';

export interface VerifyRequest {
  qrvId: string;
  deep: boolean;
  /** --throttle: bytes a second it may read at most (the QRV and, deep, the snapshot together) */
  throttle?: number;
}

function checkReady(qrv: Qrv): void {
  if (qrv.state !== 'ready')
    throw new QrvError(
      'refused',
      'qrv-not-ready',
      `QRV ${qrv.id} is ${qrv.state}; only a ready QRV has content to verify`,
      qrv.state === 'removed'
        ? 'nothing to do'
        : qrv.state === 'promoted'
          ? `it is a primary of "${qrv.volume}" now, written by its users; verify the volume's next QRV instead`
          : 'finish or redo its copy first (`qrv doctor` lists unfinished copies)',
    );
}

/** --deep: the path of the snapshot the QRV reflects, when it is still ready (else a warning, and none). */
function deepSnapshotPath(ctx: Context, data: CatalogData, qrv: Qrv): string | undefined {
  const snapshot = data.snapshots.find((s) => s.id === qrv.snapshotId);
  if (snapshot?.state === 'ready') return snapshot.path;
  ctx.reporter.warn(
    `snapshot ${qrv.snapshotId}, which QRV ${qrv.id} reflects, is ${snapshot ? snapshot.state : 'not in the catalog'}: checked against the ledger only`,
  );
  return undefined;
}

/** Reads the QRV (and the snapshot) against its ledger; a ledger that cannot be used is a verify error. */
async function readBlocks(
  ctx: Context,
  qrv: Qrv,
  snapshotPath: string | undefined,
  throttle: number | undefined,
): Promise<VerifyOutcome> {
  return verifyBlocks({
    path: qrv.destination,
    ledgerPath: qrv.ledger ?? ledgerPathFor(qrv, ctx.catalog.home),
    expect: { snapshotId: qrv.snapshotId, sizeBytes: qrv.sizeBytes, blockSize: qrv.blockSize, qrvId: qrv.id },
    snapshotPath,
    rate: throttle ? new RateLimit(throttle) : null,
    reporter: ctx.reporter,
    phase: 'verify',
  }).catch((error: unknown) => {
    if (!(error instanceof LedgerError)) throw error;
    throw new QrvError(
      'verify',
      'ledger-unusable',
      `QRV ${qrv.id} cannot be verified: ${error.message}` /* a LedgerError names its file */,
      'update the QRV with `qrv copy SNAPSHOT --to ' +
        qrv.destination +
        '` (it compares every block and writes a new ledger)',
    );
  });
}

/** A line per bad block listed, per block where the snapshot differs, and the verdict. */
function outcomeLines(qrv: Qrv, outcome: VerifyOutcome, snapshotPath: string | undefined): string[] {
  const lines: string[] = [];
  const where = (block: number): string =>
    `block ${block} (bytes ${block * outcome.blockSize}–${Math.min((block + 1) * outcome.blockSize, outcome.sizeBytes) - 1})`;
  for (const block of outcome.bad) lines.push(`bad: ${where(block)} of ${qrv.destination}`);
  if (outcome.badCount > outcome.bad.length)
    lines.push(
      `… and ${outcome.badCount - outcome.bad.length} more bad blocks (only the first ${MAX_LISTED} are listed)`,
    );
  for (const block of outcome.snapshotDiffers)
    lines.push(`snapshot differs from the ledger: ${where(block)} of snapshot ${qrv.snapshotId}`);
  const scope = snapshotPath ? `its ledger and snapshot ${qrv.snapshotId}` : 'its ledger';
  const blocks = Math.ceil(outcome.sizeBytes / outcome.blockSize);
  lines.push(
    outcome.badCount === 0
      ? `QRV ${qrv.id} is clean: ${formatBytes(outcome.bytesChecked)} in ${blocks} blocks match ${scope}`
      : `QRV ${qrv.id} has ${outcome.badCount} bad block${outcome.badCount === 1 ? '' : 's'} of ${blocks} against ${scope}; its next update compares every block (or recover from another QRV)`,
  );
  return lines;
}

export async function verifyQrv(ctx: Context, request: VerifyRequest): Promise<Summary> {
  const data = await ctx.catalog.read();
  const qrv = findQrv(data, request.qrvId);
  checkReady(qrv);
  const snapshotPath = request.deep ? deepSnapshotPath(ctx, data, qrv) : undefined;
  const outcome = await readBlocks(ctx, qrv, snapshotPath, request.throttle);
  const ok = outcome.badCount === 0;
  const at = ctx.now().toISOString();
  const lastVerify = { at, ok, badBlocks: outcome.badCount, deep: snapshotPath !== undefined };
  await ctx.catalog.update((catalog) => {
    const row = catalog.qrvs.find((q) => q.id === qrv.id);
    if (row) row.lastVerify = lastVerify;
  });
  return {
    data: {
      qrv: qrv.id,
      ok,
      deep: lastVerify.deep,
      blockSize: outcome.blockSize,
      badBlocks: outcome.bad,
      badCount: outcome.badCount,
      snapshotDiffers: outcome.snapshotDiffers,
      bytesChecked: outcome.bytesChecked,
    },
    lines: outcomeLines(qrv, outcome, snapshotPath),
    ...(ok ? {} : { exit: 'verify' as const }),
  };
}
