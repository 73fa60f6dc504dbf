// Time to usable in the VM lane (issue 16): a classic LV after 1 % of its blocks changed, recovered
// with `qrv recover --instant` (the dm mirror), `--force` (the ledger) and `--force --full`, for
// the sizes that fit the VM. One boot runs bench/lib/vm-instant.sh, which prints a BENCH line per
// run; this side takes medians and writes docs/PERFORMANCE.md between the bench:vm-instant markers.
// Emulated (TCG, no KVM): every figure is several times what real hardware gives; the ratios are
// what to read.
//
//   npm run bench:vm-instant   (root, the VM lane's tools)
//   env: BENCH_RUNS (default 3), BENCH_SIZES_MIB (default "256,1024"), BENCH_NO_DOCS=1
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInVm, vmBlocker } from '../test/helpers/vm.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { list, median } from './lib/stats.ts';

const { here, root, work } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 3, 1);
const sizes = (process.env.BENCH_SIZES_MIB ?? '256,1024').split(',').map((s) => Number(s.trim()));
if (sizes.some((s) => !Number.isSafeInteger(s) || s < 64)) throw new Error('BENCH_SIZES_MIB: sizes in MiB, ≥ 64');
const MiB = 1024 * 1024;
const KINDS = ['instant', 'incremental', 'full'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = {
  instant: '`recover --instant --no-wait` (dm mirror)',
  incremental: '`recover --force` (ledger)',
  full: '`recover --force --full`',
};

interface Run {
  size: number;
  kind: Kind;
  seconds: number;
  qrvSeconds: number;
  bytesWritten: number;
}

async function main(): Promise<void> {
  const blocker = vmBlocker();
  if (blocker) throw new Error(`the VM lane cannot run here: ${blocker}`);
  if (!existsSync(join(root, 'dist', 'qrv'))) throw new Error('dist/qrv is missing: npm run build && npm run package');
  const body = readFileSync(join(here, 'lib', 'vm-instant.sh'), 'utf8').replace(/^#!.*\n/, '');
  const largest = Math.max(...sizes);
  // the store (2 × the largest + 512 MiB), every LV, the before snapshots' COW stores
  const diskMiB = 1024 + 2 * largest + Math.ceil(1.2 * sizes.reduce((a, b) => a + b, 0));
  console.log(`booting the VM (disk ${diskMiB} MiB); this takes a while…`);
  const run = await runInVm(`#!/bin/bash\nexport BENCH_RUNS=${runs} BENCH_SIZES_MIB=${sizes.join(',')}\n${body}`, {
    diskMiB,
    memoryMiB: 2048,
    timeoutMs: 60 * 60_000,
  });
  if (run.exitCode !== 0)
    throw new Error(`bench/lib/vm-instant.sh failed (exit ${run.exitCode}):\n${run.output.slice(-6000)}`);
  const results: Run[] = run.output
    .split('\n')
    .filter((l) => l.startsWith('BENCH '))
    .map((l) => {
      const [, size, kind, , seconds, qrvSeconds, bytes] = l.trim().split(/\s+/);
      return {
        size: Number(size),
        kind: kind as Kind,
        seconds: Number(seconds),
        qrvSeconds: Number(qrvSeconds),
        bytesWritten: Number(bytes || 0),
      };
    });
  for (const r of results) console.log(`${r.size} MiB, ${r.kind}: ${r.seconds.toFixed(2)} s to usable`);
  const rows = sizes.flatMap((size) =>
    KINDS.map((kind) => {
      const mine = results.filter((r) => r.size === size && r.kind === kind);
      const med = (pick: (r: Run) => number) => median(mine.map(pick));
      return `| ${size} MiB | ${LABEL[kind]} | ${med((r) => r.seconds).toFixed(2)} | ${list(mine.map((r) => r.seconds))} | ${med((r) => r.qrvSeconds).toFixed(2)} | ${(med((r) => r.bytesWritten) / MiB).toFixed(1)} |`;
    }),
  );
  const machine = describeMachine(work);
  await publishSection(root, 'vm-instant', [
    '## Time to usable in the VM lane: the dm mirror against writing back (issue 16)',
    '',
    `\`npm run bench:vm-instant\` (bench/vm-instant.ts), ${machine.date}: host ${machine.nproc} CPUs (${machine.cpuModel}), Linux ${machine.kernel}, load ${machine.load}; inside the VM lane's qemu guest (TCG emulation, no KVM: every figure is several times what real hardware gives, the ratios are what to read), its VM run ${run.seconds.toFixed(0)} s. A classic LV holding ext4, 85 % full of random data, its QRV a file on an ext4 LV; ${runs} rounds, contenders rotated, each after the same 1 % of 64 KiB blocks was overwritten again, \`sync\` and a cache drop. "To usable": the qrv process, then \`mount -o ro\` and a read of a 1 MiB file (checked). After \`--instant\` its copy is waited for and finished, untimed.`,
    '',
    '| volume | what | median s to usable | all runs | of which qrv, s | MiB written by qrv |',
    '| --- | --- | ---: | --- | ---: | ---: |',
    ...rows,
    '',
    "`--instant` writes nothing itself: the kernel copies the whole volume in the background (the mirror's regions), while the volume is in use. Its time does not grow with the size: it is a fixed number of lvchange, lvs, dmsetup and losetup calls (0.1–0.5 s each emulated, 30–50 ms on real hardware) and qrv's start; the write-backs grow with the volume.",
  ]);
}

await main();
