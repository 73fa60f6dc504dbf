// Archive generations (F15, issue 14) side by side with restic, on the same data and target.
//
// A volume of BENCH_ARCHIVE_MIB (default 2048) MiB: half random data, a quarter hex text
// (compressible about 2:1), a quarter holes, in 1 MiB regions. Each run: snapshot A, `qrv
// archive` to the store (full), 1 % of the volume's 64 KiB blocks rewritten at random
// (seeded), snapshot B, `qrv archive` again (incremental); and `restic backup` of the same two
// images, at the same path, into a fresh repository on the same target (the first backup full,
// the second with the first as parent). Targets: a folder, and an SSH server on loopback (sshd,
// started here; qrv's ssh store and restic's sftp backend both through the system's ssh). Each
// command runs under /usr/bin/time: wall time, user+system CPU of its whole process tree; what it
// sent is the growth of the store or repository on disk (du -sb).
//
// Medians of BENCH_RUNS (default 3) go to docs/PERFORMANCE.md between the bench:archive markers.
// Needs root (sshd), restic (apt-get install restic) and openssh-server.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { writeSection } from './lib/report-section.ts';
import { median } from './lib/stats.ts';
import { changeBlocks } from './lib/volumes.ts';
import { startSshd, type Sshd } from '../test/helpers/sshd.ts';

const MiB = 1024 * 1024;
const { root, work: benchWork } = benchPaths();
const work = join(benchWork, 'archive');
const sizeMiB = wholeNumberEnv('BENCH_ARCHIVE_MIB', 2048, 64);
const runs = wholeNumberEnv('BENCH_RUNS', 3, 1);
const sizeBytes = sizeMiB * MiB;
const BIN = join(root, 'bin', 'qrv');
const PASSWORD = 'bench-only-password';

interface Timed {
  seconds: number;
  cpu: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time; throws when it fails. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Timed {
  const run = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * MiB,
    env: { ...process.env, ...env },
  });
  const line = [...(run.stderr ?? '').split('\n')].reverse().find((l: string) => l.startsWith('TIME ')) ?? '';
  if (run.status !== 0 || !line) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr}`);
  const [, wall, user, system] = line.split(' ').map(Number) as [number, number, number, number];
  return { seconds: wall, cpu: user + system, stdout: run.stdout };
}

const du = (path: string): number => Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);

/** Half random, a quarter hex text, a quarter holes, in 1 MiB regions. */
async function makeVolume(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const random = Buffer.allocUnsafe(MiB);
  const half = Buffer.allocUnsafe(MiB / 2);
  try {
    await handle.truncate(sizeBytes);
    for (let region = 0; region < sizeMiB; region++) {
      const kind = region % 4;
      if (kind === 3) continue;
      if (kind === 2) random.write(randomFillSync(half).toString('hex'), 'latin1');
      else randomFillSync(random);
      await handle.write(random, 0, MiB, region * MiB);
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

interface Sample {
  seconds: number;
  cpu: number;
  sent: number;
}

interface Row {
  tool: string;
  target: string;
  full: Sample[];
  incremental: Sample[];
}

function qrv(home: string, args: string[]): Timed {
  return timed(process.execPath, [BIN, '--home', home, '--json', ...args]);
}

function snapshotOf(home: string): { id: string; path: string } {
  const run = qrv(home, ['snap', 'vol']);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { snapshot: { id: string; path: string } };
  return summary.snapshot;
}

/** qrv: snapshot A, archive; change; snapshot B, archive. */
function qrvRun(volume: string, base: string, storeArgs: string[], storeDir: string, row: Row, dir: string): void {
  cpSync(base, volume);
  const home = join(dir, 'home');
  qrv(home, ['volume', 'add', 'vol', '--path', volume]);
  qrv(home, ['store', 'add', 'target', ...storeArgs]);
  const a = snapshotOf(home);
  const before = du(storeDir);
  const full = qrv(home, ['archive', a.id, '--to', 'target']);
  row.full.push({ seconds: full.seconds, cpu: full.cpu, sent: du(storeDir) - before });
}

async function qrvIncremental(volume: string, storeDir: string, row: Row, dir: string): Promise<void> {
  const home = join(dir, 'home');
  await changeBlocks(volume, sizeBytes, 64 * 1024, 0.01);
  const b = snapshotOf(home);
  const before = du(storeDir);
  const incr = qrv(home, ['archive', b.id, '--to', 'target']);
  row.incremental.push({ seconds: incr.seconds, cpu: incr.cpu, sent: du(storeDir) - before });
}

async function resticRun(base: string, repo: string, repoDir: string, sftp: string[], row: Row, dir: string) {
  const source = join(dir, 'restic-src');
  mkdirSync(source, { recursive: true });
  const image = join(source, 'vol.img');
  cpSync(base, image);
  const env = { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: join(dir, 'restic-cache') };
  timed('restic', ['-r', repo, ...sftp, 'init'], env);
  let before = du(repoDir);
  const full = timed('restic', ['-r', repo, ...sftp, 'backup', '--json', image], env);
  row.full.push({ seconds: full.seconds, cpu: full.cpu, sent: du(repoDir) - before });
  await changeBlocks(image, sizeBytes, 64 * 1024, 0.01);
  before = du(repoDir);
  const incr = timed('restic', ['-r', repo, ...sftp, 'backup', '--json', image], env);
  row.incremental.push({ seconds: incr.seconds, cpu: incr.cpu, sent: du(repoDir) - before });
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

function report(rows: Row[], machine: ReturnType<typeof describeMachine>, changedBytes: number): string {
  const lines = [
    `Measured ${machine.date} on ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, kernel ${machine.kernel}, ${machine.filesystem}, Node ${machine.node}, ${execFileSync('restic', ['version'], { encoding: 'utf8' }).trim()}; load ${machine.load} at the start, ${(loadavg()[0] ?? 0).toFixed(2)} at the end.`,
    '',
    `A ${sizeMiB} MiB volume (half random, a quarter hex text, a quarter holes). Full: the first archive or backup. Incremental: after 1 % of its 64 KiB blocks were rewritten at random (${fmt(changedBytes / MiB)} MiB changed). Medians of ${runs} runs; "sent" is the growth of the store or repository on disk; CPU is user + system of the whole process tree (for SSH, ssh's and sftp-server's included).`,
    '',
    '| tool | target | full: s | full: CPU s | full: sent MiB | incr.: s | incr.: CPU s | incr.: sent MiB | incr. sent ÷ changed |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const m = (samples: Sample[], key: keyof Sample) => median(samples.map((s) => s[key]));
    lines.push(
      `| ${row.tool} | ${row.target} | ${fmt(m(row.full, 'seconds'))} | ${fmt(m(row.full, 'cpu'))} | ${fmt(m(row.full, 'sent') / MiB)} | ${fmt(m(row.incremental, 'seconds'))} | ${fmt(m(row.incremental, 'cpu'))} | ${fmt(m(row.incremental, 'sent') / MiB)} | ${fmt(m(row.incremental, 'sent') / changedBytes, 2)} |`,
    );
  }
  const pair = (target: string) => {
    const q = rows.find((r) => r.tool === 'qrv archive' && r.target === target)!;
    const r = rows.find((x) => x.tool === 'restic backup' && x.target === target)!;
    const ratio = (a: Sample[], b: Sample[]) => median(a.map((s) => s.seconds)) / median(b.map((s) => s.seconds));
    return `${target}: full ${fmt(ratio(q.full, r.full), 2)} × restic's time (target ≤ 1.2), incremental ${fmt(ratio(q.incremental, r.incremental), 2)} × (target ≤ 1)`;
  };
  lines.push('', `Ratios: ${pair('folder')}; ${pair('ssh (loopback)')}.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/archive.ts needs root (it starts sshd)');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const base = join(work, 'base.img');
  console.log(`writing a ${sizeMiB} MiB volume`);
  await makeVolume(base);
  const teardowns: (() => unknown)[] = [];
  const sshd: Sshd = await startSshd({ teardown: (f) => teardowns.push(f) });
  const sshCommand = `ssh ${sshd.sshOptions.map((o) => `-o ${o}`).join(' ')} -o StrictHostKeyChecking=yes -o BatchMode=yes -p ${sshd.port} root@127.0.0.1 -s sftp`;
  const rows: Row[] = [
    { tool: 'qrv archive', target: 'folder', full: [], incremental: [] },
    { tool: 'restic backup', target: 'folder', full: [], incremental: [] },
    { tool: 'qrv archive', target: 'ssh (loopback)', full: [], incremental: [] },
    { tool: 'restic backup', target: 'ssh (loopback)', full: [], incremental: [] },
  ];
  const machine = describeMachine(work);
  let changed = 0;
  try {
    for (let run = 0; run < runs; run++) {
      for (const [i, row] of rows.entries()) {
        const dir = join(work, `run${run}-${i}`);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const target = join(dir, 'target');
        mkdirSync(target, { mode: 0o700 });
        const ssh = row.target !== 'folder';
        if (row.tool === 'qrv archive') {
          const volume = join(dir, 'vol.img');
          const storeArgs = ssh
            ? [
                '--ssh',
                `root@127.0.0.1:${target}`,
                '--port',
                String(sshd.port),
                ...sshd.sshOptions.flatMap((o) => ['--ssh-option', o]),
              ]
            : ['--dir', target];
          qrvRun(volume, base, storeArgs, target, row, dir);
          await qrvIncremental(volume, target, row, dir);
        } else {
          const repo = ssh ? `sftp:root@127.0.0.1:${target}/repo` : join(target, 'repo');
          await resticRun(base, repo, target, ssh ? ['-o', `sftp.command=${sshCommand}`] : [], row, dir);
        }
        const last = (s: Sample[]) =>
          `${fmt(s.at(-1)!.seconds, 2)} s, ${fmt(s.at(-1)!.cpu, 1)} CPU s, ${fmt(s.at(-1)!.sent / MiB)} MiB`;
        console.log(
          `run ${run + 1}/${runs} ${row.tool} → ${row.target}: full ${last(row.full)}; incremental ${last(row.incremental)}`,
        );
        rmSync(dir, { recursive: true, force: true });
      }
    }
    changed = Math.round((sizeBytes / (64 * 1024)) * 0.01) * 64 * 1024;
  } finally {
    for (const f of teardowns.reverse()) await f();
  }
  const body = report(rows, machine, changed);
  console.log(`\n${body}`);
  if (process.env.BENCH_NO_DOCS !== '1') {
    await writeSection(join(root, 'docs', 'PERFORMANCE.md'), 'archive', body);
    console.log('wrote docs/PERFORMANCE.md (section bench:archive)');
  }
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  writeFileSync(join(benchWork, '.archive-done'), new Date().toISOString());
}

await main();
