// Peak-memory benchmark: the largest resident set of a process running a full copy (fresh QRV
// file plus its ledger, as `qrv copy` does) of a big volume. The engine's buffers are bounded
// (depth × 1 MiB plus two 1 MiB ledger windows), so its peak should not grow with the volume.
// The volume is real data on the host filesystem (a random 64 MiB pattern repeated: nothing is a
// hole, nothing is zero). Each run is its own process with the page cache dropped first; the
// peak is read twice: by the child (process.resourceUsage().maxRSS) and, when installed, by
// GNU time (`/usr/bin/time -v`, "Maximum resident set size"). A Node process that loads the
// same bundle and does nothing gives the baseline. Written to docs/PERFORMANCE.md between the
// bench:peak-memory markers.
//
//   node --import tsx bench/peak-memory.ts
//   env: BENCH_RUNS (default 3), BENCH_MEM_SIZE_MIB (default 8192), BENCH_KEEP=1 (keep the volume),
//        BENCH_NO_DOCS=1 (print only)
import { existsSync, mkdirSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { checksumImage } from '../src/copy/block-copy.ts';
import type { OnceResult } from './incremental-once.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { bundleChild } from './lib/bundle.ts';
import { describeMachine } from './lib/machine.ts';
import { PageCache } from './lib/page-cache.ts';
import { writeSection } from './lib/report-section.ts';
import { lastJson, spawnTimed } from './lib/spawn.ts';
import { list, median } from './lib/stats.ts';
import { makePatternVolume } from './lib/volumes.ts';

const MiB = 1024 * 1024;
const TARGET_MIB = 150;
const { here, root, work } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 3, 1);
const sizeMiB = wholeNumberEnv('BENCH_MEM_SIZE_MIB', 8192, 1);
const sizeBytes = sizeMiB * MiB;

const bundle = join(work, 'peak-memory-once.mjs');
const volume = join(work, 'mem-volume.img');
const destination = join(work, 'mem-qrv.img');
const ledger = `${destination}.qrvledger`;
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const cache = new PageCache();

interface Sample {
  wall: number;
  childMiB: number;
  /** GNU time's "Maximum resident set size", MiB; null without /usr/bin/time */
  timeMiB: number | null;
  result: OnceResult;
}

/** Runs the bundle under GNU time (when present) and reads both peaks. */
function sample(args: string[]): Sample {
  const command = gnuTime ?? process.execPath;
  const run = spawnTimed(command, gnuTime ? ['-v', process.execPath, bundle, ...args] : [bundle, ...args]);
  if (!run.ok) throw new Error(`copy process failed: ${run.detail}`);
  const result = lastJson<OnceResult>(run.stdout);
  const reported = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr);
  if (gnuTime && !reported) throw new Error(`no "Maximum resident set size" in the output of ${gnuTime} -v`);
  return {
    wall: run.seconds,
    childMiB: result.maxRssBytes / MiB,
    timeMiB: reported ? Number(reported[1]) / 1024 : null,
    result,
  };
}

async function prepare(): Promise<void> {
  for (const file of [destination, ledger, `${ledger}.partial`]) await rm(file, { force: true });
  cache.flushAndDrop();
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  try {
    await bundleChild(join(here, 'incremental-once.ts'), bundle);
    console.log(`writing a ${sizeMiB} MiB volume (a random 64 MiB pattern, repeated) to ${volume}`);
    await makePatternVolume(volume, sizeBytes);
    const expected = await checksumImage(volume, sizeBytes);
    const machine = describeMachine(work);

    await prepare();
    const idle = sample(['idle']);
    const copies: Sample[] = [];
    for (let round = 0; round < runs; round++) {
      await prepare();
      const copy = sample(['full', volume, destination, String(sizeBytes)]);
      if (copy.result.checksum !== expected)
        throw new Error(`the copy computed ${copy.result.checksum}, the volume is ${expected}`);
      const size = (await stat(destination)).size;
      if (size !== sizeBytes) throw new Error(`the QRV has ${size} bytes, expected ${sizeBytes}`);
      if (round === 0) {
        const got = await checksumImage(destination, sizeBytes);
        if (got !== expected)
          throw new Error(`the QRV holds ${got}, the volume is ${expected} — the copy produced wrong data`);
      }
      copies.push(copy);
      console.log(
        `run ${round + 1}/${runs}: peak RSS ${copy.childMiB.toFixed(1)} MiB (child) / ${copy.timeMiB?.toFixed(1) ?? '—'} MiB (GNU time), ${copy.wall.toFixed(1)} s`,
      );
    }

    const peak = Math.max(...copies.map((c) => Math.max(c.childMiB, c.timeMiB ?? 0)));
    const rows = [
      `| node, bundle loaded, no work (baseline) | ${idle.childMiB.toFixed(1)} | ${idle.timeMiB?.toFixed(1) ?? '—'} | — | ${idle.wall.toFixed(2)} |`,
      ...copies.map(
        (c, i) =>
          `| full copy + ledger, run ${i + 1} | ${c.childMiB.toFixed(1)} | ${c.timeMiB?.toFixed(1) ?? '—'} | ${Math.round(sizeBytes / c.wall / 1e6)} | ${c.wall.toFixed(2)} |`,
      ),
    ];
    const body = `## Peak memory

Measured ${machine.date} by \`bench/peak-memory.ts\`: peak resident set size of one process running a full copy
(fresh QRV image file plus its ledger, engine defaults: 1 MiB buffers, 2 in rotation) of a volume of ${sizeMiB} MiB,
${runs} run${runs === 1 ? '' : 's'}, each in its own process${cache.dropped ? ' with the page cache dropped first' : ' (page cache NOT dropped: not root)'}. The volume is an image file on the host
filesystem written end to end with one random 64 MiB pattern repeated (no holes, no zero blocks). The copy's
checksum was compared with the volume's every run, and the whole QRV re-read and compared after the first.
The peak is the kernel's maxrss of the process (page cache is not part of it), as the child reports it
(\`process.resourceUsage().maxRSS\`) and as ${gnuTime ? '`/usr/bin/time -v` reports it ("Maximum resident set size")' : 'GNU time would (not installed here)'}.

- Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}
- Filesystem of bench/work: ${machine.filesystem}; Node ${machine.node}
- 1-minute load average at the start / end: ${machine.load} / ${(loadavg()[0] ?? 0).toFixed(2)}

| Process | Peak RSS, MiB (child) | Peak RSS, MiB (GNU time) | MB/s | Wall s |
| --- | ---: | ---: | ---: | ---: |
${rows.join('\n')}

- Highest peak over the copies: ${peak.toFixed(1)} MiB (target ≤ ${TARGET_MIB} MiB: ${peak <= TARGET_MIB ? 'met' : 'NOT met'});
  median ${median(copies.map((c) => c.childMiB)).toFixed(1)} MiB; the baseline Node process alone: ${idle.childMiB.toFixed(1)} MiB.
- Wall times (s): ${list(copies.map((c) => c.wall))}.

Re-run: \`npm run bench:memory\` (= \`node --import tsx bench/peak-memory.ts\`), as root to drop caches; it needs ≈ ${Math.ceil((2 * sizeMiB) / 1024)} GiB
free in \`bench/work/\`. Environment: \`BENCH_RUNS\` (default 3), \`BENCH_MEM_SIZE_MIB\` (default 8192), \`BENCH_KEEP=1\` keeps
the volume and the QRV, \`BENCH_NO_DOCS=1\` prints without writing this file.
`;
    console.log(`\n${body}`);
    if (process.env.BENCH_NO_DOCS !== '1') {
      await writeSection(join(root, 'docs', 'PERFORMANCE.md'), 'peak-memory', body);
      console.log('wrote docs/PERFORMANCE.md (section bench:peak-memory)');
    }
  } finally {
    if (process.env.BENCH_KEEP !== '1') {
      for (const file of [volume, destination, ledger, `${ledger}.partial`, bundle]) await rm(file, { force: true });
    }
  }
}

await main();
