// How `qrv recover` writes a copy back over a volume (or over an existing --to target): only what
// differs, where qrv can know it, else every block.
//
//   provider  the QRV reflects snapshot B, which still exists, and a snapshot of the volume costs
//             no copy: a snapshot N of the volume is taken first (it also keeps what the recovery
//             overwrites, so the recovery can itself be undone from it), the provider says what
//             changed from B to N, and only that is read from the QRV and written.
//   ledger    the QRV's hash ledger: the target is read once, the hash of each block compared with
//             the ledger's, and only the blocks that differ are read from the QRV and written.
//   full      every block: a snapshot as the source, a QRV without a usable ledger, a new --to,
//             or --full.
//
// Whatever the method, the result is checked against the QRV's checksum: the hashes of what was
// read and of what was carried over from the ledger must give it, and what was written is read
// back (all of it after a full write-back, the written ranges after an incremental one).
import type { FileHandle } from 'node:fs/promises';
import type { Qrv, Snapshot, Volume } from '../catalog/schema.ts';
import { checksumImage } from '../copy/block-copy.ts';
import { differingRanges } from '../copy/differ.ts';
import { replicate, type Base, type CopyResult } from '../copy/replicate.ts';
import type { ByteRange } from '../core/byte-range.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { providerRanges } from '../engine/copy-base.ts';
import type { JobRecorder } from '../engine/job-recorder.ts';
import { snapshotPhase } from '../engine/snapshot-phase.ts';
import { LedgerError, LedgerReader, ledgerChecksum, ledgerPathFor } from '../ledger/ledger.ts';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../policy/hooks.ts';
import { volumeRef } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';

/** What is recovered: a snapshot or QRV (an archive generation is restored, not written back). */
export interface WriteBackSource {
  id: string;
  path: string;
  sizeBytes: number;
  /** the checksum recorded when the copy was made, when there is one */
  checksum: string | null;
  /** the block size that checksum was computed with */
  blockSize?: number;
  /** the QRV's row, when the source is one: its ledger may say what the target must hold */
  qrv?: Qrv;
}

export interface WriteBackAsk {
  ctx: Context;
  job: JobRecorder;
  source: WriteBackSource;
  target: string;
  kind: 'file' | 'block';
  /** the target, opened once and checked: read and written through this */
  handle: FileHandle;
  /** the volume, when the target is the volume itself: a snapshot of it may be taken first */
  volume: Volume | null;
  /** the target held data before: it can be compared (a new file is written whole) */
  existing: boolean;
  /** --full: every block, compared with nothing */
  full: boolean;
}

export interface WriteBackResult extends CopyResult {
  /** bytes of the target read to find what differs (the ledger method) */
  scannedBytes: number;
  /** the snapshot of the volume taken first (the provider method): the state the recovery overwrote */
  before: Snapshot | null;
  /** why a QRV was written back in full, when it was */
  why: string | null;
}

interface Plan {
  base: Base;
  scannedBytes: number;
  before: Snapshot | null;
  why: string | null;
}

export async function writeBack(ask: WriteBackAsk): Promise<WriteBackResult> {
  const started = process.hrtime.bigint();
  const plan = await planWriteBack(ask);
  const ledger = plan.base.kind === 'differs' ? plan.base.ledger : null;
  if (plan.why) await ask.job.warn(plan.why);
  try {
    const copy = await ask.job.step(
      'recover',
      'write back',
      async () => {
        // the job's row says writing began (a killed recovery can be resumed from here on)
        await ask.job.commit();
        return replicate({
          source: ask.source.path,
          destination: ask.target,
          destinationHandle: ask.handle,
          keepMode: true,
          sizeBytes: ask.source.sizeBytes,
          destinationKind: ask.kind,
          base: plan.base,
          reporter: ask.ctx.reporter,
          phase: 'recover',
          ...(ask.source.blockSize ? { blockSize: ask.source.blockSize } : {}),
        });
      },
      (r) =>
        `${r.bytesRead} bytes from ${ask.source.id} to ${ask.target}` +
        (r.method === 'full' ? '' : `, ${r.bytesWritten} written (${r.method})`),
    );
    await ask.job.step(
      'verify',
      'compare checksums',
      () => checkWritten(ask, ledger, copy),
      (sum) => `${ask.target} matches ${ask.source.id} (${sum})`,
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { ...copy, seconds, scannedBytes: plan.scannedBytes, before: plan.before, why: plan.why };
  } finally {
    await ledger?.close();
  }
}

function fullPlan(why: string | null): Plan {
  return { base: { kind: 'fresh' }, scannedBytes: 0, before: null, why };
}

async function planWriteBack(ask: WriteBackAsk): Promise<Plan> {
  const { qrv } = ask.source;
  if (!qrv || !ask.existing || ask.full) return fullPlan(null);
  const opened = await openQrvLedger(ask.ctx, qrv);
  if (typeof opened === 'string') return fullPlan(opened);
  const ledger = opened;
  try {
    const check = checkRead(ledger, ask.source);
    const { before, ranges } = await providerDiffers(ask, ledger);
    if (ranges)
      return {
        base: { kind: 'differs', ledger, ranges, method: 'provider', check },
        scannedBytes: 0,
        before,
        why: null,
      };
    const found = await ask.job.step(
      'recover',
      'compare with the ledger',
      () => differingRanges({ path: ask.target, handle: ask.handle, ledger, reporter: ask.ctx.reporter }),
      (f) => `${f.blocks} of ${ledger.header.blockCount} blocks of ${ask.target} differ from ${ask.source.id}`,
    );
    const base: Base = { kind: 'differs', ledger, ranges: found.ranges, method: 'ledger', check };
    return { base, scannedBytes: found.bytesScanned, before, why: null };
  } catch (error) {
    await ledger.close();
    throw error;
  }
}

/**
 * What is read from the QRV must be what its ledger records, before it is written: a damaged
 * block stops the write-back there (the blocks before it are the QRV's own data).
 */
function checkRead(ledger: LedgerReader, source: WriteBackSource) {
  return async (first: number, hashes: BigUint64Array): Promise<void> => {
    const recorded = await ledger.hashes(first, hashes.length);
    const bad = hashes.findIndex((hash, index) => hash !== recorded[index]);
    if (bad < 0) return;
    throw new QrvError(
      'verify',
      'source-mismatch',
      `block ${first + bad} of ${source.id} (${source.path}) does not match its ledger: the QRV is damaged there; nothing from that block on was written`,
      `check it with \`qrv verify ${source.id}\`; recover from another snapshot or QRV`,
    );
  };
}

/** The QRV's ledger, when it describes the QRV as recorded; else why it cannot be used. */
async function openQrvLedger(ctx: Context, qrv: Qrv): Promise<LedgerReader | string> {
  if (qrv.lastVerify && !qrv.lastVerify.ok)
    return `QRV ${qrv.id} failed its last verify (${qrv.lastVerify.badBlocks} bad blocks); writing every block`;
  const path = qrv.ledger ?? ledgerPathFor(qrv, ctx.catalog.home);
  let ledger: LedgerReader;
  try {
    ledger = await LedgerReader.open(path, { qrvId: qrv.id, sizeBytes: qrv.sizeBytes, blockSize: qrv.blockSize });
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    return `the ledger of QRV ${qrv.id} cannot be used: ${error.message}; writing every block`;
  }
  if (ledgerChecksum(ledger.header.bodyChecksum) === qrv.checksum) return ledger;
  await ledger.close();
  return `the ledger of QRV ${qrv.id} does not give its recorded checksum; writing every block`;
}

/**
 * The provider method: the snapshot the QRV reflects still exists and a snapshot of the volume
 * costs no copy, so one is taken (`before`) and the provider asked what changed since. `ranges`
 * is null when it cannot tell (the snapshot taken is kept all the same: the state overwritten).
 */
async function providerDiffers(
  ask: WriteBackAsk,
  ledger: LedgerReader,
): Promise<{ before: Snapshot | null; ranges: ByteRange[] | null }> {
  const { volume } = ask;
  if (!volume) return { before: null, ranges: null };
  const data = await ask.ctx.catalog.read();
  const reflected = data.snapshots.find(
    (s) => s.id === ledger.header.snapshotId && s.volume === volume.name && s.state === 'ready',
  );
  const provider = getProvider(volume.provider);
  if (!reflected || !provider.changedRanges) return { before: null, ranges: null };
  // a snapshot that copies the volume (a sparse copy) would cost more than the ledger's one read
  if ((await provider.copyEstimate?.(volumeRef(volume))) ?? null) return { before: null, ranges: null };
  const before = await snapshotPhase(ask.ctx, ask.job, volume, {
    persistMs: null,
    label: `before recovery from ${ask.source.id}`,
    hooks: {},
    hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
  });
  const ranges = await ask.job.step(
    'recover',
    'changed ranges',
    async () => providerRanges(await ask.ctx.catalog.read(), volume, reflected.id, before),
    (r) =>
      r
        ? `${r.reduce((sum, x) => sum + x.end - x.start, 0)} bytes changed since ${reflected.id}`
        : `the provider cannot tell what changed since ${reflected.id}`,
  );
  return { before, ranges };
}

/**
 * The copy's checksum against the source's, then what was written read back: against the
 * ledger already open, the written ranges only; without one, all of it against the checksum.
 */
async function checkWritten(ask: WriteBackAsk, ledger: LedgerReader | null, copy: CopyResult): Promise<string> {
  const { source, target, handle } = ask;
  if (source.checksum && source.checksum !== copy.checksum)
    throw new QrvError(
      'verify',
      'source-mismatch',
      `${source.id} no longer matches the checksum recorded when it was made (${copy.checksum} ≠ ${source.checksum})`,
      `the copy at ${source.path} is damaged; recover from another snapshot or QRV`,
    );
  if (ledger && copy.written) {
    const back = await differingRanges({
      path: target,
      handle,
      ledger,
      ranges: copy.written,
      phase: 'verify',
      reporter: ask.ctx.reporter,
    });
    if (back.blocks === 0) return copy.checksum;
    const first = (back.ranges[0]?.start ?? 0) / ledger.header.blockSize;
    throw new QrvError(
      'verify',
      'verify-mismatch',
      `${target} does not read back as written (${back.blocks} blocks differ from ${source.id}, the first at block ${first})`,
      'check the target disk and recover again',
    );
  }
  const written = await checksumImage(target, source.sizeBytes, {
    reporter: ask.ctx.reporter,
    ...(source.blockSize ? { blockSize: source.blockSize } : {}),
    handle,
  });
  if (written !== copy.checksum)
    throw new QrvError(
      'verify',
      'verify-mismatch',
      `${target} does not read back as written (${written} ≠ ${copy.checksum})`,
      'check the target disk and recover again',
    );
  return written;
}
