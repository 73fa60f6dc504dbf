// One measured copy in its own process, for bench/incremental.ts and bench/peak-memory.ts. It
// runs what `qrv copy` runs for each method, and prints one JSON line: the in-process time of the
// operation (Node start-up excluded; the parent times the whole process), its parts, what the
// engine read and wrote, the checksum it computed, and the process's peak RSS.
//
//   full     <source> <qrv> <sizeBytes> [snapId]   fresh QRV file + new ledger <qrv>.qrvledger
//                                                  (snapshotId default "B")
//   provider <snapA> <snapB> <qrv> <sizeBytes>     ranges from the two clones' extent maps
//                                                  (file provider), then a copy of only those
//   ledger   <snapB> <qrv> <sizeBytes>             read all of B, write blocks the ledger says differ
//   idle                                           nothing: the baseline RSS of this bundle
//
// The incremental modes need <qrv> to hold snapshot "A" with its ledger (snapshotId "A") beside it
// and leave it holding "B" with a new ledger, renamed into place, as the CLI does.
import { replicate, DEFAULT_BLOCK_SIZE, type Base, type CopyResult } from '../src/copy/replicate.ts';
import type { ByteRange } from '../src/core/byte-range.ts';
import { LedgerReader, LedgerWriter, ledgerPathFor } from '../src/ledger/ledger.ts';
import { fileProvider } from '../src/providers/file/file-provider.ts';

const QRV_ID = 'q-bench';

export interface OnceResult {
  mode: string;
  /** the whole operation, seconds, measured inside the process */
  seconds: number;
  /** provider mode: computing the changed ranges (filefrag on both clones + comparison) */
  rangesSeconds?: number;
  /** incremental modes: opening (and fully verifying) the QRV's ledger */
  ledgerOpenSeconds?: number;
  /** replicate(): read, hash, write, fdatasync, new ledger finished */
  copySeconds?: number;
  rangeCount?: number;
  rangeBytes?: number;
  bytesRead?: number;
  bytesWritten?: number;
  changedBlocks?: number;
  checksum?: string;
  /** process.resourceUsage().maxRSS, in bytes */
  maxRssBytes: number;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e9;
const ledgerOf = (qrv: string): string =>
  ledgerPathFor({ id: QRV_ID, destination: qrv, destinationKind: 'file' }, '/nonexistent');

async function copyWithLedger(
  source: string,
  qrv: string,
  sizeBytes: number,
  base: Base,
  snapshotId: string,
): Promise<CopyResult> {
  const ledgerOut = await LedgerWriter.create(ledgerOf(qrv), {
    blockSize: DEFAULT_BLOCK_SIZE,
    sizeBytes,
    snapshotId,
    qrvId: QRV_ID,
  });
  try {
    // Tuning knobs, as in copy-once.ts: QRV_BENCH_BUFFER (bytes), QRV_BENCH_DEPTH (reads in flight).
    const tuning = {
      ...(process.env.QRV_BENCH_BUFFER ? { bufferSize: Number(process.env.QRV_BENCH_BUFFER) } : {}),
      ...(process.env.QRV_BENCH_DEPTH ? { readDepth: Number(process.env.QRV_BENCH_DEPTH) } : {}),
    };
    return await replicate({
      source,
      destination: qrv,
      destinationKind: 'file',
      sizeBytes,
      base,
      ledgerOut,
      ...tuning,
    });
  } catch (error) {
    await ledgerOut.discard().catch(() => undefined);
    throw error;
  }
}

/** A clone in the file provider's terms: the bench's snapshots are reflink clones. */
const ref = (path: string, sizeBytes: number) => ({ handle: path, path, method: 'reflink', sizeBytes });

async function incremental(
  mode: 'provider' | 'ledger',
  snapA: string | null,
  snapB: string,
  qrv: string,
  sizeBytes: number,
): Promise<OnceResult> {
  const started = now();
  let ranges: ByteRange[] | null = null;
  if (mode === 'provider') {
    const volume = { name: 'bench', provider: 'file', path: snapB, options: {} };
    ranges =
      (await fileProvider.changedRanges?.(volume, ref(snapA as string, sizeBytes), ref(snapB, sizeBytes))) ?? null;
    if (!ranges)
      throw new Error(
        `the file provider gave no changed ranges for ${snapA} → ${snapB} (not reflink clones on one filesystem?)`,
      );
  }
  const rangesDone = now();
  const ledger = await LedgerReader.open(ledgerOf(qrv), { snapshotId: 'A', sizeBytes, blockSize: DEFAULT_BLOCK_SIZE });
  const opened = now();
  let result: CopyResult;
  try {
    result = await copyWithLedger(snapB, qrv, sizeBytes, { kind: 'ledger', ledger, ranges }, 'B');
  } finally {
    await ledger.close();
  }
  const done = now();
  const expected = mode === 'provider' ? 'provider' : 'ledger';
  if (result.method !== expected) throw new Error(`replicate() used method ${result.method}, expected ${expected}`);
  return {
    mode,
    seconds: done - started,
    ...(mode === 'provider'
      ? {
          rangesSeconds: rangesDone - started,
          rangeCount: ranges?.length,
          rangeBytes: ranges?.reduce((sum, r) => sum + r.end - r.start, 0),
        }
      : {}),
    ledgerOpenSeconds: opened - rangesDone,
    copySeconds: done - opened,
    bytesRead: result.bytesRead,
    bytesWritten: result.bytesWritten,
    changedBlocks: result.changedBlocks,
    checksum: result.checksum,
    maxRssBytes: 0,
  };
}

async function full(source: string, qrv: string, sizeBytes: number, snapshotId: string): Promise<OnceResult> {
  const started = now();
  const result = await copyWithLedger(source, qrv, sizeBytes, { kind: 'fresh' }, snapshotId);
  const seconds = now() - started;
  return {
    mode: 'full',
    seconds,
    copySeconds: seconds,
    bytesRead: result.bytesRead,
    bytesWritten: result.bytesWritten,
    changedBlocks: result.changedBlocks,
    checksum: result.checksum,
    maxRssBytes: 0,
  };
}

async function main(argv: string[]): Promise<OnceResult> {
  const [mode, ...rest] = argv;
  const size = (value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`bad size ${value}`);
    return n;
  };
  if (mode === 'full' && (rest.length === 3 || rest.length === 4))
    return full(rest[0] as string, rest[1] as string, size(rest[2]), rest[3] ?? 'B');
  if (mode === 'provider' && rest.length === 4)
    return incremental('provider', rest[0] as string, rest[1] as string, rest[2] as string, size(rest[3]));
  if (mode === 'ledger' && rest.length === 3)
    return incremental('ledger', null, rest[0] as string, rest[1] as string, size(rest[2]));
  if (mode === 'idle' && rest.length === 0) return { mode: 'idle', seconds: 0, maxRssBytes: 0 };
  console.error(
    'usage: incremental-once full <src> <qrv> <size> [snapshotId] | provider <snapA> <snapB> <qrv> <size> | ledger <snapB> <qrv> <size> | idle',
  );
  process.exit(2);
}

const result = await main(process.argv.slice(2));
// maxRSS is in kibibytes.
console.log(JSON.stringify({ ...result, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
