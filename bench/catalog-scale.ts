// Catalog scale: does qrv stay fast after a year of `qrv cron`? Builds, with qrv's own code, a
// home that looks like one year of cron every 5 minutes on 8 volumes (≈ 840,000 finished jobs in
// the history store, written with the store's own writer) plus 10,000 live snapshots (file
// provider: hard links to one small real snapshot per volume, so the disk use stays small), and
// an "empty" home with the same volumes and policy, one snapshot each and no history. Then times
// whole qrv processes (bin/qrv run as an admin runs it, its shebang's V8 flag included) on both,
// side by side (medians of BENCH_RUNS), with peak RSS from
// /usr/bin/time. Written to docs/PERFORMANCE.md between the bench:catalog-scale markers.
//
//   npm run bench:catalog
//   env: BENCH_RUNS (default 5), BENCH_JOBS (default 840960), BENCH_LIVE (default 10000),
//        BENCH_NO_DOCS=1 (print only), BENCH_KEEP=DIR (a copy of the built homes, to profile by hand),
//        BENCH_QRV=FILE (time another qrv, e.g. the single executable dist/qrv; implies BENCH_NO_DOCS)
import {
  linkSync,
  mkdirSync,
  rmSync,
  statSync,
  writeFileSync,
  readFileSync,
  existsSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { History, type HistoryRecord } from '../src/catalog/history.ts';
import type { CatalogData, Job, Snapshot } from '../src/catalog/schema.ts';
import { baseText, parseCatalog } from '../src/catalog/catalog-text.ts';
import { Catalog } from '../src/catalog/store.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { median } from './lib/stats.ts';

const { root, work: benchWork } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 5, 1);
const jobCount = wholeNumberEnv('BENCH_JOBS', 365 * 288 * 8, 0);
const liveCount = wholeNumberEnv('BENCH_LIVE', 10_000, 8);
const VOLUMES = 8;
const work = join(benchWork, 'catalog-scale');
const bin = process.env.BENCH_QRV ? resolve(process.env.BENCH_QRV) : join(root, 'bin', 'qrv');
const hex = (n: number) => n.toString(16).padStart(8, '0');

function qrv(home: string, args: string[], allowFail = false): { seconds: number; rssMiB: number; stdout: string } {
  const run = spawnSync('/usr/bin/time', ['-f', '%e %M', bin, '--home', home, ...args], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, CI: '1' },
  });
  const last = (run.stderr ?? '').trim().split('\n').at(-1) ?? '';
  const [e, m] = last.split(' ').map(Number);
  if (!allowFail && run.status !== 0) throw new Error(`qrv ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return { seconds: e ?? NaN, rssMiB: (m ?? NaN) / 1024, stdout: run.stdout };
}

/** A home with 8 volumes of 1 MiB, a policy with a yearly schedule on the default sub-client that holds them, and a snapshot of each. */
function baseHome(name: string): { home: string; data: CatalogData } {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const home = join(dir, 'home');
  for (let v = 1; v <= VOLUMES; v += 1) {
    const image = join(dir, `v${v}.img`);
    const fd = openSync(image, 'w');
    writeSync(fd, Buffer.alloc(64 * 1024, v), 0, 64 * 1024, 0);
    closeSync(fd);
    spawnSync('truncate', ['-s', '1M', image]);
    qrv(home, ['volume', 'add', `v${v}`, '--provider', 'file', '--path', image]);
  }
  // nothing is due while the bench runs: the schedule is once a year, and each volume was just snapshotted
  qrv(home, [
    'policy',
    'add',
    'cron5',
    '--schedule',
    '0 0 1 1 *',
    '--copy',
    'never',
    '--unsnap',
    'after-persist',
    '--persist',
    '400d',
  ]);
  qrv(home, ['subclient', 'set', 'default', '--policy', 'cron5']);
  for (let v = 1; v <= VOLUMES; v += 1) qrv(home, ['snap', `v${v}`]);
  const data = parseCatalog(readFileSync(join(home, 'catalog.json'), 'utf8'), 'catalog.json');
  return { home, data };
}

/** 10,000 live snapshot rows, each a hard link to its volume's real snapshot file. */
function liveRows(data: CatalogData, count: number, now: number): Snapshot[] {
  const rows: Snapshot[] = [];
  for (let i = 0; i < count; i += 1) {
    const base = data.snapshots[i % VOLUMES] as Snapshot;
    const id = `s-${hex(0x30000000 + i)}`;
    const file = join(base.path, '..', `${base.volume}@${id}.img`);
    rows.push({
      ...structuredClone(base),
      id,
      handle: file,
      path: file,
      createdAt: new Date(now - (i + 60) * 60_000).toISOString(),
      groupId: `g-${hex(0x30000000 + i)}`,
    });
  }
  return rows;
}

function linkFiles(data: CatalogData, rows: Snapshot[]): void {
  for (const row of rows) {
    const base = data.snapshots.find((s) => s.volume === row.volume) as Snapshot;
    if (!existsSync(row.path)) linkSync(base.path, row.path);
  }
}

/** A year of cron: a snap and (every other run) an unsnap job per volume every 5 minutes, as real rows. */
async function writeHistory(home: string, template: Job, count: number, now: number): Promise<string> {
  const history = new History(home);
  let batch: HistoryRecord[] = [];
  let sixMonths = '';
  const per = Math.ceil(count / VOLUMES);
  for (let i = 0; i < per; i += 1) {
    const at = new Date(now - (per - i) * 300_000).toISOString();
    for (let v = 1; v <= VOLUMES && i * VOLUMES + v <= count; v += 1) {
      const id = `j-${hex(0x40000000 + i * VOLUMES + v)}`;
      const job: Job = {
        ...template,
        id,
        volume: `v${v}`,
        kind: i % 2 ? 'unsnap' : 'snap',
        startedAt: at,
        endedAt: at,
        snapshotId: `s-${hex(0x50000000 + i * VOLUMES + v)}`,
        steps: template.steps.map((s) => ({ ...s, startedAt: at, endedAt: at })),
      };
      batch.push({ id, at, kind: 'job', volume: job.volume, row: job });
      if (!sixMonths && now - Date.parse(at) <= 182 * 86_400_000) sixMonths = id;
    }
    if (batch.length >= 50_000) {
      await history.append(batch);
      batch = [];
    }
  }
  await history.append(batch);
  return sixMonths;
}

interface Row {
  name: string;
  big: number[];
  bigRss: number[];
  empty: number[];
  emptyRss: number[];
}

function timed(
  name: string,
  big: () => ReturnType<typeof qrv>,
  empty: () => ReturnType<typeof qrv>,
  before?: (which: 'big' | 'empty') => void,
): Row {
  const row: Row = { name, big: [], bigRss: [], empty: [], emptyRss: [] };
  for (let r = 0; r < runs; r += 1) {
    before?.('big');
    const b = big();
    before?.('empty');
    const e = empty();
    row.big.push(b.seconds);
    row.bigRss.push(b.rssMiB);
    row.empty.push(e.seconds);
    row.emptyRss.push(e.rssMiB);
  }
  console.error(`${name}: big ${median(row.big).toFixed(2)} s, empty ${median(row.empty).toFixed(2)} s`);
  return row;
}

async function main(): Promise<void> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const load = [loadavg()[0]];
  const now = Date.now();
  const started = Date.now();
  const big = baseHome('big');
  const empty = baseHome('empty');
  // a real finished snap job row, its steps included, as the template of every history line
  const template = big.data.jobs.find((j) => j.kind === 'snap' && j.state === 'succeeded') as Job;
  const rows = liveRows(big.data, liveCount - VOLUMES, now);
  linkFiles(big.data, rows);
  const catalog = await Catalog.open(big.home);
  await catalog.update((data) => void data.snapshots.push(...rows));
  const oldJob = await writeHistory(big.home, template, jobCount, now);
  const emptyJob = (empty.data.jobs.find((j) => j.kind === 'snap') as Job).id;
  const built = (Date.now() - started) / 1000;
  // BENCH_KEEP=DIR: a copy of the built homes (hard links kept) to profile commands on by hand
  if (process.env.BENCH_KEEP) spawnSync('cp', ['-a', work, process.env.BENCH_KEEP]);
  const catalogBytes = statSync(join(big.home, 'catalog.json')).size;
  const historyBytes = spawnSync('du', ['-sb', join(big.home, 'history')], { encoding: 'utf8' }).stdout.split('\t')[0];
  const liveText = readFileSync(join(big.home, 'catalog.json'), 'utf8');

  // parse and validate the live catalog in this process (what every command pays once)
  const parse: number[] = [];
  const validate: number[] = [];
  for (let r = 0; r < runs; r += 1) {
    const t0 = performance.now();
    JSON.parse(liveText);
    const t1 = performance.now();
    parseCatalog(liveText, 'catalog.json');
    const t2 = performance.now();
    parse.push(t1 - t0);
    validate.push(t2 - t1 - (t1 - t0));
  }

  const liveId = rows[0]?.id as string;
  const emptyId = empty.data.snapshots[0]?.id as string;
  const results: Row[] = [];
  results.push(
    timed(
      'list --json',
      () => qrv(big.home, ['list', '--json']),
      () => qrv(empty.home, ['list', '--json']),
    ),
  );
  results.push(
    timed(
      'snap v1',
      () => qrv(big.home, ['snap', 'v1']),
      () => qrv(empty.home, ['snap', 'v1']),
    ),
  );
  let n = 0;
  results.push(
    timed(
      'set --label',
      () => qrv(big.home, ['set', liveId, '--label', `x${n++}`]),
      () => qrv(empty.home, ['set', emptyId, '--label', `x${n++}`]),
    ),
  );
  results.push(
    timed(
      'check',
      () => qrv(big.home, ['check'], true),
      () => qrv(empty.home, ['check'], true),
    ),
  );
  results.push(
    timed(
      'cron (nothing due)',
      () => qrv(big.home, ['cron']),
      () => qrv(empty.home, ['cron']),
    ),
  );
  results.push(
    timed(
      'history --since 1d',
      () => qrv(big.home, ['history', '--since', '1d', '--json']),
      () => qrv(empty.home, ['history', '--since', '1d', '--json']),
    ),
  );
  results.push(
    timed(
      'show <job of 6 months ago>',
      () => qrv(big.home, ['show', oldJob, '--json']),
      () => qrv(empty.home, ['show', emptyJob, '--json']),
    ),
  );

  // prune of 10,000 expired snapshots: each run starts from the same catalog with every live snapshot expired
  const expire = (home: string, text: string, data: CatalogData, extra: Snapshot[]) => {
    const past = new Date(now - 3_600_000).toISOString();
    const expired = parseCatalog(text, 'catalog.json');
    for (const s of expired.snapshots) if (s.state === 'ready') s.persistUntil = past;
    // written as qrv writes a whole catalog (a new journal id: the last run's journal is not this one's)
    writeFileSync(join(home, 'catalog.json'), baseText(expired).text, { mode: 0o600 });
    rmSync(join(home, 'catalog.journal'), { force: true });
    linkFiles(data, extra);
    for (const s of expired.snapshots)
      if (s.state === 'ready' && !existsSync(s.path))
        linkSync((data.snapshots.find((b) => b.volume === s.volume) as Snapshot).path, s.path);
  };
  const bigText = readFileSync(join(big.home, 'catalog.json'), 'utf8');
  const emptyText = readFileSync(join(empty.home, 'catalog.json'), 'utf8');
  const keepBase = (home: string, data: CatalogData) =>
    data.snapshots.map((s) => {
      const copy = `${s.path}.base`;
      if (!existsSync(copy)) linkSync(s.path, copy);
      return { s, copy, home };
    });
  const bases = [...keepBase(big.home, big.data), ...keepBase(empty.home, empty.data)];
  const restoreBases = () => {
    for (const b of bases) if (!existsSync(b.s.path)) linkSync(b.copy, b.s.path);
  };
  let pruned = 0;
  results.push(
    timed(
      `prune (${liveCount} expired)`,
      () => {
        const r = qrv(big.home, ['prune', '--json'], true);
        pruned = (JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}').removed ?? []).length;
        return r;
      },
      () => qrv(empty.home, ['prune', '--json'], true),
      (which) => {
        restoreBases();
        if (which === 'big') expire(big.home, bigText, big.data, rows);
        else expire(empty.home, emptyText, empty.data, []);
      },
    ),
  );
  // what the provider's removals cost alone: unlinking as many files as prune removed
  restoreBases();
  expire(big.home, bigText, big.data, rows);
  const unlinkStart = performance.now();
  for (const s of parseCatalog(readFileSync(join(big.home, 'catalog.json'), 'utf8'), 'c').snapshots)
    rmSync(s.path, { force: true });
  const unlinkSeconds = (performance.now() - unlinkStart) / 1000;
  load.push(loadavg()[0]);

  const machine = describeMachine(work);
  const f = (v: number) => v.toFixed(2);
  const lines = [
    '## Catalog scale',
    '',
    `One year of \`qrv cron\` every 5 minutes on ${VOLUMES} volumes (${jobCount.toLocaleString('en')} finished jobs in the history store, ${historyBytes} bytes) plus ${liveCount.toLocaleString('en')} live snapshots (file provider, hard links; catalog.json ${catalogBytes} bytes), against the same volumes with one snapshot each and no history. Whole processes, start-up included; medians of ${runs}; peak RSS from \`/usr/bin/time -f %M\`. Built in ${built.toFixed(0)} s. \`npm run bench:catalog\`.`,
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.kernel}, ${machine.filesystem}, Node ${machine.node}; 1-minute load ${load.map((l) => (l ?? 0).toFixed(1)).join(' at the start, ')} at the end (the machine was shared with other work).`,
    '',
    '| command | big home, s | empty home, s | difference, s | big peak RSS, MiB | empty peak RSS, MiB | all big runs, s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map(
      (r) =>
        `| \`qrv ${r.name}\` | ${f(median(r.big))} | ${f(median(r.empty))} | ${f(median(r.big) - median(r.empty))} | ${median(r.bigRss).toFixed(0)} | ${median(r.emptyRss).toFixed(0)} | ${r.big.map(f).join(', ')} |`,
    ),
    '',
    `Parsing catalog.json (${catalogBytes} bytes) in one process: JSON.parse ${median(parse).toFixed(0)} ms, zod validation on top ${median(validate).toFixed(0)} ms (medians of ${runs}).`,
    `Prune removed ${pruned} snapshots per run; unlinking as many files alone takes ${f(unlinkSeconds)} s, so the catalog work of a prune is about its time less that and less the empty home's prune.`,
  ];
  // Another qrv's numbers are printed, not written over bin/qrv's section.
  if (process.env.BENCH_QRV) console.log(lines.join('\n'));
  else await publishSection(root, 'catalog-scale', lines);
}

await main();
