// Freeze-window benchmark (issue #5): how long `qrv snap` keeps a mounted filesystem frozen, and
// how long the whole snapshot takes, for the file provider on XFS (reflink clone) and on ext4
// (sparse copy). The volume is an ext4 image, loop-mounted and written to between snapshots; the
// image lives on the filesystem under test. Every `qrv snap` is a separate process; the freeze
// window is the snapshot row's suspendedMs (first `fsfreeze -f` to the end of `fsfreeze -u`).
// Medians of BENCH_RUNS (default 11, ≥ 10) go to docs/PERFORMANCE.md between the
// bench:freeze-window markers.
//
//   node --import tsx bench/freeze-window.ts     (root; mkfs.xfs, mkfs.ext4, losetup, fsfreeze)
//   env: BENCH_RUNS, BENCH_NO_DOCS=1 (print only)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { mountLoopXfs, releaseUnder, type LoopXfs } from './lib/loop-xfs.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { lastJson, spawnTimed } from './lib/spawn.ts';
import { list, median } from './lib/stats.ts';

const { here, root, work: scratch } = benchPaths();
const work = join(scratch, 'freeze');
const runs = wholeNumberEnv('BENCH_RUNS', 11, 10);
const VOLUME_MIB = 256;

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${(result.stderr ?? '').trim()}`);
  return result.stdout.trim();
}

interface Row {
  where: string;
  method: string;
  freezeMs: number[];
  snapMs: number[];
  processS: number[];
}

/** Snapshots an ext4 image living in `dir` (loop-mounted, written between snapshots) `runs` times. */
function measure(where: string, dir: string): Row {
  const image = join(dir, 'vol.img');
  const mnt = join(dir, 'vol.mnt');
  const home = join(dir, 'home');
  mkdirSync(mnt, { recursive: true });
  run('truncate', ['-s', `${VOLUME_MIB}M`, image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  const device = run('losetup', ['-f', '--show', image]);
  try {
    run('mount', [device, mnt]);
    try {
      const qrv = (args: string[]) => spawnTimed('node', [join(root, 'bin', 'qrv'), '--home', home, '--json', ...args]);
      const added = qrv(['volume', 'add', 'vol', '--path', image]);
      if (!added.ok) throw new Error(added.detail);
      const row: Row = { where, method: '', freezeMs: [], snapMs: [], processS: [] };
      for (let i = 0; i < runs; i++) {
        // Some dirty data for the freeze to write out: 8 MiB, not synced.
        run('dd', ['if=/dev/urandom', `of=${join(mnt, `f${i % 3}`)}`, 'bs=1M', 'count=8', 'status=none']);
        const snap = qrv(['snap', 'vol']);
        if (!snap.ok) throw new Error(snap.detail);
        const summary = lastJson<{
          snapshot: { id: string; quiesce: string; method: string; suspendedMs: number };
          job: { steps: Array<{ name: string; startedAt: string; endedAt: string }> };
        }>(snap.stdout);
        if (summary.snapshot.quiesce !== 'fsfreeze')
          throw new Error(`the snapshot was not frozen (${summary.snapshot.quiesce})`);
        row.method = summary.snapshot.method;
        row.freezeMs.push(summary.snapshot.suspendedMs);
        const steps = summary.job.steps;
        const first = steps.find((s) => s.name === 'bring to rest');
        const last = steps.find((s) => s.name === 'resume I/O');
        if (first && last) row.snapMs.push(Date.parse(last.endedAt) - Date.parse(first.startedAt));
        row.processS.push(snap.seconds);
        const removed = qrv(['unsnap', summary.snapshot.id]);
        if (!removed.ok) throw new Error(removed.detail);
      }
      return row;
    } finally {
      spawnSync('fsfreeze', ['-u', mnt]);
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', device]);
  }
}

// A run killed earlier may have left its mounts (nested: ext4 on XFS) and loop devices in work;
// they go before work is emptied. (No signal handler: the runs are synchronous, so one would
// only run at the end; a killed run is cleared by the next.)
for (const line of releaseUnder(work)) console.log(`left by an earlier run: ${line}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const rows: Row[] = [];
let xfs: LoopXfs | null = null;
try {
  xfs = mountLoopXfs(join(work, 'xfs.img'), join(work, 'xfs.mnt'), 2 * 1024 * 1024 * 1024);
  rows.push(measure('XFS (reflink), on a loop device', xfs.mountpoint));
  xfs.release();
  xfs = null;
  const ext4Dir = join(work, 'ext4');
  mkdirSync(ext4Dir, { recursive: true });
  rows.push(measure(`the host's own filesystem (${describeMachine(work).filesystem})`, ext4Dir));
} finally {
  xfs?.release();
  rmSync(work, { recursive: true, force: true });
}

const machine = describeMachine(here);
const lines = [
  '## Freeze window',
  '',
  `Measured ${machine.date} by \`bench/freeze-window.ts\`: ${runs} \`qrv snap\` runs per row, each its own process, of a`,
  `${VOLUME_MIB} MiB ext4 image that is loop-mounted (so qrv freezes it, under its guard) with 8 MiB of fresh, unsynced data`,
  'written before each snapshot; each snapshot is removed again. "Freeze window" is the snapshot row\'s `suspendedMs`: from',
  'the first `fsfreeze -f` to the end of `fsfreeze -u`. "Bring to rest → resume I/O" adds starting the guard.',
  '',
  `- Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}; ${machine.node}`,
  `- 1-minute load average: ${machine.load}`,
  '',
  '| Image on | Snapshot method | Freeze window, median ms | Bring to rest → resume I/O, median ms | `qrv snap` process, median s | Freeze windows (ms) |',
  '| --- | --- | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.where} | ${r.method} | ${median(r.freezeMs).toFixed(1)} | ${median(r.snapMs).toFixed(0)} | ${median(r.processS).toFixed(3)} | ${list(r.freezeMs, 1)} |`,
  ),
  '',
  `- Target (issue #5): freeze window ≤ 50 ms median on file/XFS: ${median(rows[0]?.freezeMs ?? [Infinity]) <= 50 ? 'met' : 'NOT met'}.`,
  '',
  'Re-run: `node --import tsx bench/freeze-window.ts` as root (needs mkfs.xfs, mkfs.ext4, losetup, fsfreeze); `BENCH_RUNS`',
  '(default 11), `BENCH_NO_DOCS=1` prints without writing this file.',
];
await publishSection(root, 'freeze-window', lines);
