// Start-up (issue 13): whole qrv processes that do almost nothing — `--help`, `--version`, `list`
// on a small catalog — as cron and scripts start them, side by side: the single executable
// (dist/qrv, `npm run package`), `node dist/qrv.mjs` (the build bin/qrv runs), and `node -e 0`
// (what any Node program pays before its first line). Each is started BENCH_RUNS times
// (default 20), alternating, and the median of each is reported, with and without
// NODE_EXTRA_CA_CERTS (Node reads that bundle at every start; some machines set it, this one does).
// Written to docs/PERFORMANCE.md between the bench:startup markers.
//
//   npm run bench:startup        (builds both first)
//   env: BENCH_RUNS (default 20), BENCH_NO_DOCS=1 (print only)
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { median } from './lib/stats.ts';

const { root, work: benchWork } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 20, 1);
const work = join(benchWork, 'startup');
const home = join(work, 'home');

const exe = join(root, 'dist', 'qrv');
const esm = [process.execPath, join(root, 'dist', 'qrv.mjs')];
const programs: { name: string; argv: string[] }[] = [
  { name: '`node -e 0`', argv: [process.execPath, '-e', '0'] },
  { name: '`dist/qrv` (single executable)', argv: [exe] },
  { name: '`node dist/qrv.mjs`', argv: esm },
];
const commands: { name: string; args: string[] }[] = [
  { name: '--help', args: ['--help'] },
  { name: '--version', args: ['--version'] },
  { name: 'list (small catalog)', args: ['--home', home, 'list'] },
];

function seconds(argv: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const run = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  if (run.status !== 0) throw new Error(`${argv.join(' ')} exited ${run.status}: ${run.stderr}`);
  return elapsed;
}

function ms(value: number): string {
  return `${(value * 1000).toFixed(0)} ms`;
}

rmSync(work, { recursive: true, force: true });
mkdirSync(home, { recursive: true });
chmodSync(home, 0o700);
const image = join(work, 'vol.img');
spawnSync('truncate', ['-s', '1M', image]);
for (const args of [
  ['volume', 'add', 'vol', '--provider', 'file', '--path', image],
  ['snap', 'vol', '--persist', '7d'],
  ['snap', 'vol', '--persist', '7d'],
])
  seconds([exe, '--home', home, ...args], process.env);

const withCa = { ...process.env, CI: '1' };
const withoutCa: NodeJS.ProcessEnv = { ...withCa };
delete withoutCa.NODE_EXTRA_CA_CERTS;
const envs = [
  { name: 'without NODE_EXTRA_CA_CERTS', env: withoutCa },
  ...(process.env.NODE_EXTRA_CA_CERTS ? [{ name: 'with NODE_EXTRA_CA_CERTS (as set here)', env: withCa }] : []),
];

const machine = describeMachine(work);
const lines = [
  '## Start-up',
  '',
  `Measured ${machine.date} on ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, load ${machine.load}. Whole processes, median of ${runs} starts each (alternating), by \`npm run bench:startup\`. Target (issue 13): \`qrv --help\` and \`qrv list\` on a small catalog ≤ 120 ms.`,
  '',
];
for (const { name: envName, env } of envs) {
  const times = new Map<string, number[]>();
  for (let i = 0; i < runs; i += 1)
    for (const program of programs)
      for (const command of program.argv[1] === '-e' ? [commands[0] as (typeof commands)[0]] : commands) {
        const key = `${program.name}|${command.name}`;
        const argv = program.argv[1] === '-e' ? program.argv : [...program.argv, ...command.args];
        times.set(key, [...(times.get(key) ?? []), seconds(argv, env)]);
      }
  lines.push(
    `### ${envName}`,
    '',
    '| command | single executable | node dist/qrv.mjs | node -e 0 |',
    '| --- | ---: | ---: | ---: |',
  );
  const base = median(times.get(`${programs[0]?.name}|--help`) ?? []);
  for (const command of commands) {
    const cell = (program: string) => ms(median(times.get(`${program}|${command.name}`) ?? []));
    lines.push(
      `| \`qrv ${command.args.filter((a) => a !== '--home' && a !== home).join(' ')}\` | ${cell(programs[1]?.name ?? '')} | ${cell(programs[2]?.name ?? '')} | ${ms(base)} |`,
    );
  }
  lines.push('');
}
rmSync(work, { recursive: true, force: true });
await publishSection(root, 'startup', lines);
