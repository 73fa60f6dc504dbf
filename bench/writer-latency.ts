// Writer latency benchmark (issue 15): what holding PostgreSQL at rest adds to the snapshot
// window, seen from the application. A real cluster (Debian's PostgreSQL, as postgres, private
// socket) on an ext4 volume image that lives on XFS (the file provider clones it by reflink, as
// LVM or dm would snapshot it: the freeze itself is short); pgbench runs 4 clients and logs every
// transaction; `qrv run` of a sub-client snapshots the volume mid-run, with the postgresql writer
// (CHECKPOINT, pg_backup_start … pg_backup_stop around the freeze; or --checkpoint spread:
// pg_backup_start waiting for a paced checkpoint) or without it (the volume alone, frozen only).
// The server paces its checkpoints over checkpoint_timeout = 30 s (its least; 5 min by default)
// so that a spread one fits in a round. The transactions that were in flight during qrv's run are the window;
// their p99 and max latency against the p99 of a run with no snapshot at all. Medians of
// BENCH_RUNS rounds (default 3) go to docs/PERFORMANCE.md between the bench:writer-latency markers.
//
//   npm run bench:writer     (root; mkfs.xfs, mkfs.ext4, losetup, fsfreeze, postgresql, pgbench)
//   env: BENCH_RUNS, BENCH_NO_DOCS=1 (print only)
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { mountLoopXfs, releaseUnder } from './lib/loop-xfs.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { list, median } from './lib/stats.ts';

const { root, work: scratch } = benchPaths();
const work = join(scratch, 'writer');
const runs = wholeNumberEnv('BENCH_RUNS', 3, 1);
const PG = '/usr/lib/postgresql/15/bin';
const SECONDS = 12;
/** a spread checkpoint takes up to 2 × 30 s × 0.9 (one of the server's own may be under way) */
const SPREAD_SECONDS = 80;
const CHECKPOINT_TIMEOUT = '30s';
const SNAP_AT_MS = 5000;

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: '/' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${(result.stderr ?? '').trim()}`);
  return result.stdout.trim();
}
const asPostgres = (program: string, args: string[]) =>
  run('runuser', ['-u', 'postgres', '--', join(PG, program), ...args]);

interface Step {
  name: string;
  startedAt: string;
  endedAt: string | null;
}

/** The snapshot window of a run's job: from holding the writers (or the freeze) to their release (or the thaw). */
function windowOf(steps: Step[]): { from: number; to: number } {
  const at = (name: string, end: boolean) => {
    const step = steps.find((s) => s.name === name);
    return step ? Date.parse((end ? step.endedAt : step.startedAt) ?? step.startedAt) : null;
  };
  const from = at('hold writers', false) ?? at('bring to rest', false);
  const to = at('release writers', true) ?? at('resume I/O', true);
  if (from === null || to === null)
    throw new Error(`no snapshot window in the job's steps: ${steps.map((s) => s.name).join(', ')}`);
  return { from, to };
}

interface Txn {
  /** completion, epoch ms */
  end: number;
  latencyMs: number;
}

/** pgbench's per-transaction log lines: client, txn, latency µs, script, epoch s, µs. */
function readLogs(dir: string, prefix: string): Txn[] {
  const txns: Txn[] = [];
  for (const name of readdirSync(dir).filter((n) => n.startsWith(`${prefix}.`))) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length < 6) continue;
      txns.push({ end: Number(f[4]) * 1000 + Number(f[5]) / 1000, latencyMs: Number(f[2]) / 1000 });
    }
    rmSync(join(dir, name));
  }
  return txns;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

interface Round {
  p99: number;
  max: number;
  txns: number;
  qrvMs: number;
  /** the snapshot window (hold → release, or freeze → thaw) */
  windowMs: number;
  /** how long bringing the writer to rest took (CHECKPOINT, pg_backup_start), and the freeze (I/O suspended) */
  holdMs: number;
  freezeMs: number;
  /** p99 and max over the whole qrv process (start-up on a busy 2-CPU machine included) */
  processP99: number;
  processMax: number;
  /** the whole run's p99 (no snapshot: the baseline) */
  wholeP99: number;
}

/** One pgbench run of SECONDS, with `qrv run target` at SNAP_AT_MS (or nothing); the window is qrv's run. */
async function round(
  socket: string,
  qrv: (args: string[]) => string,
  target: string | null,
  tag: string,
  seconds = SECONDS,
): Promise<Round> {
  const prefix = `log-${tag}`;
  const bench = spawn(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      join(PG, 'pgbench'),
      '-h',
      socket,
      '-c',
      '4',
      '-j',
      '2',
      '-T',
      String(seconds),
      '-l',
      `--log-prefix=${join(socket, prefix)}`,
      'bench',
    ],
    { cwd: '/', stdio: 'ignore' },
  );
  const ended = new Promise((resolve) => bench.on('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, SNAP_AT_MS));
  const t0 = Date.now();
  if (target === 'CHECKPOINT') {
    // the cause, alone: one immediate checkpoint, as the writer's first step does, without qrv
    asPostgres('psql', ['-X', '-q', '-h', socket, '-d', 'bench', '-c', 'CHECKPOINT']);
    return finish(socket, prefix, ended, {
      t0,
      t1: Date.now(),
      from: t0,
      to: Date.now(),
      holdMs: Date.now() - t0,
      freezeMs: 0,
    });
  }
  const summary = target
    ? (JSON.parse(qrv(['--json', 'run', target]).split('\n').at(-1) ?? '{}') as {
        job: { steps: Step[] };
        snapshot: { suspendedMs: number };
      })
    : null;
  const hold = summary?.job.steps.find((x) => x.name === 'hold writers');
  const t1 = target ? Date.now() : t0 + 1500;
  const window = summary ? windowOf(summary.job.steps) : { from: t0 + 500, to: t0 + 700 };
  return finish(socket, prefix, ended, {
    t0,
    t1,
    ...window,
    holdMs: hold?.endedAt ? Date.parse(hold.endedAt) - Date.parse(hold.startedAt) : 0,
    freezeMs: summary?.snapshot.suspendedMs ?? 0,
  });
}

/** Waits for pgbench's end and reads its logs: the transactions in the window and in the whole process. */
async function finish(
  socket: string,
  prefix: string,
  ended: Promise<unknown>,
  at: { t0: number; t1: number; from: number; to: number; holdMs: number; freezeMs: number },
): Promise<Round> {
  const { t0, t1, holdMs, freezeMs } = at;
  const window = { from: at.from, to: at.to };
  await ended;
  const txns = readLogs(socket, prefix); // written by postgres, in its own folder
  const during = (from: number, to: number) =>
    txns.filter((t) => t.end > from && t.end - t.latencyMs < to).map((t) => t.latencyMs);
  const inWindow = during(window.from, window.to);
  const inProcess = during(t0, t1);
  return {
    p99: percentile(inWindow, 99),
    max: Math.max(0, ...inWindow),
    txns: inWindow.length,
    qrvMs: t1 - t0,
    windowMs: window.to - window.from,
    holdMs,
    freezeMs,
    processP99: percentile(inProcess, 99),
    processMax: Math.max(0, ...inProcess),
    wholeP99: percentile(
      txns.map((t) => t.latencyMs),
      99,
    ),
  };
}

function setUp(): { socket: string; qrv: (args: string[]) => string; cleanup: () => void } {
  releaseUnder(work);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o711);
  const xfs = mountLoopXfs(join(work, 'xfs.img'), join(work, 'xfs'), 16 * 2 ** 30);
  chmodSync(xfs.mountpoint, 0o711);
  const image = join(xfs.mountpoint, 'pgdata.img');
  const mnt = join(work, 'pgdata');
  mkdirSync(mnt);
  run('truncate', ['-s', '3G', image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  const loop = run('losetup', ['-f', '--show', image]);
  run('mount', [loop, mnt]);
  const data = join(mnt, 'data');
  const socket = join(work, 'sock');
  for (const dir of [data, socket]) {
    mkdirSync(dir, { mode: 0o700 });
    run('chown', ['postgres:postgres', dir]);
  }
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  asPostgres('pg_ctl', [
    '-D',
    data,
    '-o',
    `-c listen_addresses='' -c unix_socket_directories='${socket}' -c cluster_name=qrvbench -c checkpoint_timeout=${CHECKPOINT_TIMEOUT}`,
    '-l',
    join(socket, 'log'),
    '-w',
    'start',
  ]);
  asPostgres('createdb', ['-h', socket, 'bench']);
  asPostgres('pgbench', ['-h', socket, '-i', '-s', '20', '-q', 'bench']);
  const home = join(work, 'home');
  const qrv = (args: string[]) => run('node', [join(root, 'bin', 'qrv'), '--home', home, ...args]);
  qrv(['volume', 'add', 'pgdata', '--path', image]);
  qrv(['policy', 'add', 'snaponly', '--copy', 'never']);
  qrv(['subclient', 'add', 'bare', '--volume', 'pgdata', '--policy', 'snaponly']);
  qrv(['subclient', 'add', 'held', '--object', 'postgresql:qrvbench/bench', '--policy', 'snaponly']);
  qrv(['policy', 'add', 'snapspread', '--copy', 'never', '--checkpoint', 'spread']);
  qrv(['subclient', 'add', 'spread', '--object', 'postgresql:qrvbench/bench', '--policy', 'snapspread']);
  const cleanup = () => {
    spawnSync('runuser', ['-u', 'postgres', '--', join(PG, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], {
      cwd: '/',
    });
    spawnSync('umount', [mnt]);
    spawnSync('losetup', ['-d', loop]);
    releaseUnder(work);
  };
  return { socket, qrv, cleanup };
}

async function main(): Promise<void> {
  const machine = describeMachine(scratch);
  const { socket, qrv, cleanup } = setUp();
  const rows: Record<'none' | 'noneLong' | 'bare' | 'held' | 'spread' | 'checkpoint', Round[]> = {
    none: [],
    noneLong: [],
    bare: [],
    held: [],
    spread: [],
    checkpoint: [],
  };
  try {
    for (let i = 0; i < runs; i++) {
      rows.none.push(await round(socket, qrv, null, `none-${i}`));
      rows.noneLong.push(await round(socket, qrv, null, `none-long-${i}`, SPREAD_SECONDS));
      rows.bare.push(await round(socket, qrv, 'bare', `bare-${i}`));
      rows.held.push(await round(socket, qrv, 'held', `held-${i}`));
      rows.spread.push(await round(socket, qrv, 'spread', `spread-${i}`, SPREAD_SECONDS));
      rows.checkpoint.push(await round(socket, qrv, 'CHECKPOINT', `checkpoint-${i}`));
    }
  } finally {
    cleanup();
  }
  const baseline = median(rows.none.map((r) => r.wholeP99));
  // runs as long as the spread rounds: they hold the server's own paced checkpoints, as the spread window does
  const longBaseline = median(rows.noneLong.map((r) => r.wholeP99));
  const m = (r: Round[], key: keyof Round) => median(r.map((x) => x[key]));
  const line = (name: string, r: Round[]) =>
    `| ${name} | ${m(r, 'windowMs').toFixed(0)} | ${m(r, 'txns')} | ${m(r, 'p99').toFixed(1)} (${list(
      r.map((x) => x.p99),
      1,
    )}) | ${m(r, 'max').toFixed(1)} | ${(m(r, 'p99') / baseline).toFixed(2)} | ${m(r, 'holdMs').toFixed(0)} | ${m(r, 'freezeMs').toFixed(0)} | ${m(r, 'qrvMs').toFixed(0)} | ${m(r, 'processP99').toFixed(1)} | ${m(r, 'processMax').toFixed(1)} |`;
  const ratio = (r: Round[], base = baseline) => median(r.map((x) => x.p99)) / base;
  const verdict = (r: Round[], base = baseline) =>
    `${ratio(r, base) <= 2 ? 'met' : 'NOT met'} (${ratio(r, base).toFixed(2)} ×)`;
  await publishSection(root, 'writer-latency', [
    `Measured ${machine.date} on ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, load ${machine.load}. PostgreSQL 15, pgbench -s 20, 4 clients for ${SECONDS} s (${SPREAD_SECONDS} s with a spread checkpoint); \`qrv run\` at ${SNAP_AT_MS / 1000} s; the server's checkpoint_timeout ${CHECKPOINT_TIMEOUT} (its own checkpoints run paced all along, in every row); the volume (3 GiB ext4 image) on XFS, cloned by reflink. Medians of ${runs} rounds; milliseconds.`,
    '',
    '| snapshot | window (ms) | transactions in it | p99 (each round) | max | p99 ÷ p99 without a snapshot | bringing to rest (ms) | I/O suspended (ms) | whole qrv process (ms) | its p99 | its max |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    line('none (200 ms, and 1.5 s, of a run without one)', rows.none),
    line(`none, ${SPREAD_SECONDS} s runs (200 ms, and 1.5 s, of them)`, rows.noneLong),
    line('frozen only (no writer)', rows.bare),
    line('postgresql writer held, --checkpoint fast (the default)', rows.held),
    line('postgresql writer held, --checkpoint spread', rows.spread),
    line("a CHECKPOINT alone, no qrv (the writer's first step)", rows.checkpoint),
    '',
    'The window is the snapshot window from the job\'s own steps: from "hold writers" to "release writers" with the writer, from "bring to rest" (the freeze) to "resume I/O" (the thaw) without it. The whole qrv process adds node\'s start-up and the catalog work, which compete with pgbench for the 2 CPUs.',
    '',
    `p99 without any snapshot, whole runs: ${baseline.toFixed(1)} ms (${SECONDS} s runs), ${longBaseline.toFixed(1)} ms (${SPREAD_SECONDS} s runs, which hold more of the server's own checkpoints). Target (issue 15): p99 during the snapshot with the writer ≤ 2 × that: with --checkpoint spread ${verdict(rows.spread)} against the ${SECONDS} s runs, ${verdict(rows.spread, longBaseline)} against the ${SPREAD_SECONDS} s runs; with --checkpoint fast ${verdict(rows.held)}.`,
    '',
    'Re-run: `npm run bench:writer` as root on an idle machine.',
  ]);
}

await main();
