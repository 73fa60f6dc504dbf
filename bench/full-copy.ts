// Full-copy benchmark: qrv's copy engine against `cp --sparse=always` + sync and
// `dd bs=4M conv=fsync`, on a fully written volume and a 25 %-used sparse volume.
// Every run is a separate process with the destination removed and (as root) the page cache
// dropped first; contenders rotate their order each round; medians are reported and written
// to docs/PERFORMANCE.md between the bench:full-copy markers.
//
//   node --import tsx bench/full-copy.ts
//   env: BENCH_RUNS (default 5, ≥ 3), BENCH_SIZE_MIB (default 2048), BENCH_KEEP=1 (keep volumes),
//        BENCH_NO_DOCS=1 (print only), QRV_BENCH_BUFFER/DEPTH (engine tuning, see copy-once.ts)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { build } from 'esbuild';
// @ts-expect-error -- a plain .mjs of the build scripts, without types
import { embedXxhashWasm } from '../scripts/esbuild-plugins.mjs';
import { checksumImage } from '../src/copy/block-copy.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { writeSection } from './lib/report-section.ts';
import { makeFullVolume, makeSparseVolume } from './lib/volumes.ts';

const MiB = 1024 * 1024;
const { here, root, work } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 5, 3);
const sizeMiB = wholeNumberEnv('BENCH_SIZE_MIB', 2048, 1);
const sizeBytes = sizeMiB * MiB;

const isRoot = process.getuid?.() === 0;
const bundle = join(work, 'copy-once.mjs');
const destination = join(work, 'dst.img');

interface Contender {
  name: string;
  run(src: string, dst: string): { ok: boolean; detail: string; checksum?: string };
}

function spawnChecked(command: string, args: string[]): { ok: boolean; detail: string; stdout: string } {
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 16 * MiB });
  const detail = run.error ? String(run.error) : `${command} exited ${run.status}: ${run.stderr.trim()}`;
  return { ok: run.status === 0, detail, stdout: run.stdout ?? '' };
}

function qrv(verify: boolean): Contender['run'] {
  return (src, dst) => {
    const run = spawnChecked(process.execPath, [bundle, src, dst, String(sizeBytes), ...(verify ? ['--verify'] : [])]);
    if (!run.ok) return run;
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { checksum?: string };
    return { ok: true, detail: '', checksum: result.checksum };
  };
}

const contenders: Contender[] = [
  { name: 'qrv', run: qrv(false) },
  { name: 'qrv + verify', run: qrv(true) },
  {
    name: 'cp --sparse=always + sync',
    run: (src, dst) => spawnChecked('sh', ['-c', 'cp --sparse=always "$1" "$2" && sync', 'sh', src, dst]),
  },
  {
    name: 'dd bs=4M conv=fsync',
    run: (src, dst) => spawnChecked('dd', [`if=${src}`, `of=${dst}`, 'bs=4M', 'conv=fsync', 'status=none']),
  },
];

let cachesDropped = isRoot;
async function prepareRun(): Promise<void> {
  await rm(destination, { force: true });
  spawnSync('sync');
  if (!cachesDropped) return;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
  } catch (error) {
    cachesDropped = false;
    console.warn(`could not drop page caches (${String(error)}); continuing without`);
  }
}

interface VolumeResult {
  label: string;
  dataBytes: number;
  times: Map<string, number[]>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function benchVolume(label: string, source: string, dataBytes: number): Promise<VolumeResult> {
  const expected = await checksumImage(source, sizeBytes);
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < runs; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length] as Contender);
    for (const contender of order) {
      await prepareRun();
      const started = process.hrtime.bigint();
      const outcome = contender.run(source, destination);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (!outcome.ok) throw new Error(`${contender.name} failed on ${label}: ${outcome.detail}`);
      if (outcome.checksum !== undefined && outcome.checksum !== expected) {
        throw new Error(`${contender.name} reported ${outcome.checksum}, the source is ${expected}`);
      }
      const size = (await stat(destination)).size;
      if (size !== sizeBytes) throw new Error(`${contender.name} left ${size} bytes, expected ${sizeBytes}`);
      if (round === 0 && outcome.checksum === undefined) {
        const got = await checksumImage(destination, sizeBytes);
        if (got !== expected) throw new Error(`${contender.name} produced a different image (${got} ≠ ${expected})`);
      }
      times.get(contender.name)?.push(seconds);
      console.log(`${label}  round ${round + 1}/${runs}  ${contender.name.padEnd(26)} ${seconds.toFixed(2)} s`);
    }
  }
  await rm(destination, { force: true });
  return { label, dataBytes, times };
}

function table(results: VolumeResult[]): string {
  const lines = [
    '| Volume | Contender | Median s | MB/s (volume size / median) | All runs (s) |',
    '| --- | --- | ---: | ---: | --- |',
  ];
  for (const result of results) {
    for (const [name, values] of result.times) {
      const m = median(values);
      lines.push(
        `| ${result.label} | ${name} | ${m.toFixed(2)} | ${Math.round(sizeBytes / m / 1e6)} | ${values.map((v) => v.toFixed(2)).join(', ')} |`,
      );
    }
  }
  return lines.join('\n');
}

function ratio(result: VolumeResult, over: string[], contender: string): number {
  const baseline = Math.min(...over.map((name) => median(result.times.get(name) ?? [])));
  return baseline / median(result.times.get(contender) ?? []);
}

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  const full = join(work, 'full.img');
  const quarter = join(work, 'quarter.img');
  try {
    console.log(`bundling bench/copy-once.ts → ${bundle} (esbuild, as the CLI ships)`);
    await build({
      entryPoints: [join(here, 'copy-once.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      plugins: [embedXxhashWasm],
      logLevel: 'warning',
      banner: {
        js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
      },
    });
    console.log(`generating ${sizeMiB} MiB volumes in ${work}`);
    await makeFullVolume(full, sizeBytes);
    const quarterData = await makeSparseVolume(quarter, sizeBytes, 0.25);
    const machine = describeMachine(work);

    const results = [
      await benchVolume('full (100 % random)', full, sizeBytes),
      await benchVolume('25 % used', quarter, quarterData),
    ];
    const loadAtEnd = (loadavg()[0] ?? 0).toFixed(2);
    const [fullResult, quarterResult] = results as [VolumeResult, VolumeResult];
    const cpdd = ['cp --sparse=always + sync', 'dd bs=4M conv=fsync'];
    const fullRatio = ratio(fullResult, cpdd, 'qrv');
    const fullVerifyRatio = ratio(fullResult, cpdd, 'qrv + verify');
    const quarterRatio = ratio(quarterResult, ['dd bs=4M conv=fsync'], 'qrv');
    const quarterVerifyRatio = ratio(quarterResult, ['dd bs=4M conv=fsync'], 'qrv + verify');
    const verdict = (value: number, target: number): string =>
      `${value.toFixed(2)}× (target ≥ ${target}×: ${value >= target ? 'met' : 'NOT met'})`;

    const body = `## Full copy

Measured ${machine.date} by \`bench/full-copy.ts\`: ${runs} runs per contender, contender order rotated every round,
volume size ${sizeMiB} MiB. Page caches ${cachesDropped ? 'were dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every run' : 'were NOT dropped (not root): sources may have been read from cache'}; the destination was removed first.
Each time is the wall time of one separate process, including its final fsync/sync.

- Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}
- Filesystem of bench/work: ${machine.filesystem}
- Node ${machine.node}; ${machine.tools}
- 1-minute load average at the start / end of the runs: ${machine.load} / ${loadAtEnd}${Number(machine.load) > 0.5 || Number(loadAtEnd) > 0.5 ? ' — other work was running, so times are noisy; compare the contenders, not absolute numbers' : ''}
- qrv runs \`copyImage\` from an esbuild bundle of \`bench/copy-once.ts\` (as the CLI ships); "qrv + verify" also runs
  \`checksumImage\` on the destination afterwards and compares, as the CLI does after every copy.

${table(results)}

- Full volume, qrv vs the faster of cp and dd: ${verdict(fullRatio, 1.2)}; qrv + verify: ${fullVerifyRatio.toFixed(2)}×
- 25 %-used volume, qrv vs dd: ${verdict(quarterRatio, 3)}; qrv + verify: ${quarterVerifyRatio.toFixed(2)}×

Re-run: \`node --import tsx bench/full-copy.ts\` as root on an idle machine (\`npm run bench\` builds the CLI first).
Environment: \`BENCH_RUNS\` (default 5), \`BENCH_SIZE_MIB\` (default 2048), \`BENCH_KEEP=1\` keeps the volumes,
\`BENCH_NO_DOCS=1\` prints without writing this file. The volumes are generated in \`bench/work/\` and removed at the end.
`;
    console.log(`\n${body}`);
    if (process.env.BENCH_NO_DOCS !== '1') {
      await writeSection(join(root, 'docs', 'PERFORMANCE.md'), 'full-copy', body);
      console.log('wrote docs/PERFORMANCE.md (section bench:full-copy)');
    }
  } finally {
    if (process.env.BENCH_KEEP !== '1') {
      for (const file of [full, quarter, destination, bundle]) await rm(file, { force: true });
    }
  }
}

await main();
