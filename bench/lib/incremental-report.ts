// The bench:incremental section of docs/PERFORMANCE.md: the table of medians, the two targets
// (provider incremental ≤ 3 % of a full copy; ledger incremental ≤ 1.15× one sequential read)
// and where the incremental runs spent their time.
import type { OnceResult } from '../incremental-once.ts';
import type { MachineInfo } from './machine.ts';
import { list, median } from './stats.ts';

const MiB = 1024 * 1024;

export interface Measured {
  name: string;
  kind: 'full' | 'provider' | 'ledger' | 'read' | 'startup';
  /** wall time of each run's process, seconds */
  wall: number[];
  /** what the qrv children printed, one per run */
  results: OnceResult[];
}

export interface IncrementalReportInput {
  machine: MachineInfo;
  loadAtEnd: string;
  runs: number;
  sizeMiB: number;
  changePercent: number;
  changedBlocks: number;
  blockCount: number;
  cachesDropped: boolean;
  loopDirectIo: boolean;
  measured: Measured[];
}

const pick = (results: OnceResult[], field: keyof OnceResult): number =>
  median(results.map((r) => Number(r[field] ?? 0)));
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(bytes < 100 * MiB ? 1 : 0)} MiB`;
const s3 = (seconds: number): string => seconds.toFixed(3);

function row(m: Measured, sizeBytes: number): string {
  const qrv = m.results.length > 0;
  const operation = qrv ? s3(pick(m.results, 'seconds')) : '—';
  const read = qrv ? mib(pick(m.results, 'bytesRead')) : m.kind === 'read' ? mib(sizeBytes) : '—';
  const written = qrv ? `${mib(pick(m.results, 'bytesWritten'))} (${pick(m.results, 'changedBlocks')} blocks)` : '—';
  return `| ${m.name} | ${s3(median(m.wall))} | ${operation} | ${read} | ${written} | ${list(m.wall, 3)} |`;
}

function find(measured: Measured[], kind: Measured['kind']): Measured[] {
  return measured.filter((m) => m.kind === kind);
}

export function incrementalReport(input: IncrementalReportInput): string {
  const { machine, measured, runs, sizeMiB } = input;
  const sizeBytes = sizeMiB * MiB;
  const [full] = find(measured, 'full') as [Measured];
  const [provider] = find(measured, 'provider') as [Measured];
  const [ledger] = find(measured, 'ledger') as [Measured];
  const [startup] = find(measured, 'startup') as [Measured];
  const reads = find(measured, 'read').sort((a, b) => median(a.wall) - median(b.wall));
  const fastestRead = reads[0] as Measured;
  const readSeconds = median(fastestRead.wall);

  const providerShareOp = pick(provider.results, 'seconds') / pick(full.results, 'seconds');
  const providerShareWall = median(provider.wall) / median(full.wall);
  const ledgerOverWall = median(ledger.wall) / readSeconds;
  const ledgerOverOp = pick(ledger.results, 'seconds') / readSeconds;
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const pct = (value: number): string => `${(value * 100).toFixed(1)} %`;
  const busy = Number(machine.load) > 0.5 || Number(input.loadAtEnd) > 0.5;

  return `## Incremental copy

Measured ${machine.date} by \`bench/incremental.ts\`: ${runs} runs per contender, contender order rotated every round.
The volume is a ${sizeMiB} MiB file of random data on XFS (\`mkfs.xfs -m reflink=1\`, on a loop device${input.loopDirectIo ? ' with direct I/O' : ''}
over a sparse image in \`bench/work/\`); snapshots A and B are FICLONE clones of it, as the file provider makes them.
Between A and B, ${input.changedBlocks} of its ${input.blockCount} 64 KiB blocks (${input.changePercent} %) were rewritten in place with random data
at random (seeded) positions. The QRVs are image files in \`bench/work/\` on the host filesystem, with their ledgers beside them.
Page caches ${input.cachesDropped ? 'were dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every run' : 'were NOT dropped: runs were warm'}; each incremental run started
from the A-state QRV and ledger restored from a pristine copy (plain \`cp\`, untimed), each full copy from no file at all.
After every run the QRV was checked against B (xxh64 block checksum of the image, and of the new ledger); a mismatch fails the bench.

"Process" is the wall time of the whole child process timed by the parent (Node start-up from a cold cache included);
"operation" is timed inside it: for the provider method from asking the file provider for the changed ranges
(\`filefrag -v -b1\` on both clones and the comparison), opening and checking the QRV's ledger, the copy,
to the QRV fdatasynced and the new ledger renamed into place. The full copy also writes a ledger, as \`qrv copy\` does.

- Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}
- QRVs on: ${machine.filesystem}; volume and snapshots on: xfs on a loop device backed by that filesystem
- Node ${machine.node}; ${machine.tools}
- 1-minute load average at the start / end of the runs: ${machine.load} / ${input.loadAtEnd}${busy ? ' — other work was running, so times are noisy' : ''}

| Contender | Median s (process) | Median s (operation) | Read | Written | All runs, process (s) |
| --- | ---: | ---: | ---: | ---: | --- |
${measured.map((m) => row(m, sizeBytes)).join('\n')}

- Provider incremental vs the full copy: ${pct(providerShareOp)} of its time by operation (target ≤ 3 %: ${met(providerShareOp <= 0.03)});
  ${pct(providerShareWall)} by whole process (${met(providerShareWall <= 0.03)}), of which Node start-up alone is ≈ ${s3(median(startup.wall))} s.
- Ledger incremental vs one sequential read of B (the faster reader was \`${fastestRead.name}\`, ${s3(readSeconds)} s):
  ${ledgerOverWall.toFixed(2)}× by whole process (target ≤ 1.15×: ${met(ledgerOverWall <= 1.15)}); ${ledgerOverOp.toFixed(2)}× by operation (${met(ledgerOverOp <= 1.15)}).
- Provider method, medians: changed ranges ${s3(pick(provider.results, 'rangesSeconds'))} s (${pick(provider.results, 'rangeCount')} ranges, ${mib(pick(provider.results, 'rangeBytes'))} for ${mib(input.changedBlocks * 64 * 1024)} changed),
  ledger open ${s3(pick(provider.results, 'ledgerOpenSeconds'))} s, copy ${s3(pick(provider.results, 'copySeconds'))} s.
- Ledger method, medians: ledger open ${s3(pick(ledger.results, 'ledgerOpenSeconds'))} s, copy (read and hash all of B, write the changed blocks) ${s3(pick(ledger.results, 'copySeconds'))} s.

Re-run: \`npm run bench:incremental\` (= \`node --import tsx bench/incremental.ts\`) as root on an idle machine; it needs
\`mkfs.xfs\`, \`losetup\`, \`mount\` and \`filefrag\`, and ≈ ${Math.ceil((sizeMiB * 4.1) / 1024)} GiB free in \`bench/work/\`.
Environment: \`BENCH_RUNS\` (default 5), \`BENCH_SIZE_MIB\` (default 2048), \`BENCH_CHANGE_PERCENT\` (default 1),
\`BENCH_KEEP=1\` keeps the images (unmounted), \`BENCH_NO_DOCS=1\` prints without writing this file.
`;
}
