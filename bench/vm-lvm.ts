// VM-lane benchmark (issue #5 item 7): freeze window and snapshot creation time per block
// provider (lvm classic, lvm thin, dm; and the file provider on XFS for comparison with
// bench/freeze-window.ts), and full / incremental copies of an LV against `dd`, all inside the
// qemu VM of the VM lane (test/helpers/vm.ts), since this machine's kernel has no device-mapper.
//
// One VM boot runs bench/lib/vm-lvm.sh, which writes raw numbers into $QRV_VM_OUT (index.tsv,
// qrv's JSON summaries, kprobe traces of freeze_super/thaw_super and dm_suspend/dm_resume); this
// side reads them, computes medians and ratios, prints the table and writes docs/PERFORMANCE.md
// between the bench:vm-lvm markers.
//
//   npm run bench:vm   (= npm run build && node --import tsx bench/vm-lvm.ts; root, the VM lane's tools)
//   env: BENCH_RUNS (snapshots per provider, default 10), BENCH_VM_LV_MIB (copied LV, default 512),
//        BENCH_VM_COPY_RUNS (full copies, default 3), BENCH_VM_INCR_RUNS (updates per change level,
//        default 3), BENCH_VM_FILE=0 (leave out the file/XFS row), BENCH_NO_DOCS=1 (print only),
//        BENCH_VM_RESULTS=DIR (report on the raw files of an earlier run instead of booting the VM),
//        BENCH_VM_KEEP=DIR (keep the raw files there)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInVm, vmBlocker } from '../test/helpers/vm.ts';
import { benchPaths, wholeNumberEnv } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import { publishSection } from './lib/report-section.ts';
import { list, median } from './lib/stats.ts';

const { here, root } = benchPaths();
const runs = wholeNumberEnv('BENCH_RUNS', 10, 1);
const lvMiB = wholeNumberEnv('BENCH_VM_LV_MIB', 512, 64);
const copyRuns = wholeNumberEnv('BENCH_VM_COPY_RUNS', 3, 1);
const incrRuns = wholeNumberEnv('BENCH_VM_INCR_RUNS', 3, 1);
const fileRow = process.env.BENCH_VM_FILE === '0' ? '0' : '1';
const MiB = 1024 * 1024;

interface Busy {
  load: string;
  otherVms: number;
}

/** Other qemu processes (other VM-lane runs) and the load, to say whether the host was busy. */
function hostBusy(): Busy {
  let otherVms = 0;
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('qemu-system')) otherVms++;
    } catch {
      // gone meanwhile
    }
  }
  return { load: (loadavg()[0] ?? 0).toFixed(2), otherVms };
}

// ---- running the VM ----

const before = hostBusy();
let outDir = process.env.BENCH_VM_RESULTS ?? '';
let vmSeconds: number | null = null;
let bootSeconds: number | null = null;
// the busiest moment seen while the VM ran (an object: the sampler closure writes to it)
const seen: { during: Busy | null } = { during: null };
let after = before;
const scratch = outDir ? null : (process.env.BENCH_VM_KEEP ?? mkdtempSync(join(tmpdir(), 'qrv-bench-vm-')));
if (!outDir) {
  const blocker = vmBlocker();
  if (blocker) throw new Error(`the VM lane cannot run here: ${blocker}`);
  if (!existsSync(join(root, 'dist', 'qrv.mjs')))
    throw new Error('dist/qrv.mjs is missing: run `npm run build` first (npm run bench:vm does)');
  outDir = scratch as string;
  const body = readFileSync(join(here, 'lib', 'vm-lvm.sh'), 'utf8').replace(/^#!.*\n/, '');
  const settings = `export BENCH_RUNS=${runs} BENCH_VM_LV_MIB=${lvMiB} BENCH_VM_COPY_RUNS=${copyRuns} BENCH_VM_INCR_RUNS=${incrRuns} BENCH_VM_FILE=${fileRow}\n`;
  // The disk: 256 MiB for the dm volume, ~1.3 GiB for the freeze part, 5.4 × the LV for the copies
  // (destination 2.5 ×, classic origin + two COW stores 1.4 ×, thin pool 1.5 ×). Sparse on the host.
  const diskMiB = 1792 + Math.ceil(5.6 * lvMiB);
  console.log(`booting the VM (disk ${diskMiB} MiB, 2048 MiB memory); this takes a while (10–20 min)…`);
  const sampler = setInterval(() => {
    const now = hostBusy();
    const last = seen.during;
    if (!last || Number(now.load) > Number(last.load) || now.otherVms > last.otherVms)
      seen.during = {
        load: last && Number(last.load) > Number(now.load) ? last.load : now.load,
        otherVms: Math.max(last?.otherVms ?? 0, now.otherVms),
      };
  }, 30_000);
  try {
    const run = await runInVm(`#!/bin/bash\n${settings}${body}`, {
      diskMiB,
      memoryMiB: 2048,
      timeoutMs: 45 * 60_000,
      outDir,
    });
    vmSeconds = run.seconds;
    bootSeconds = run.bootSeconds;
    if (run.exitCode !== 0)
      throw new Error(`bench/lib/vm-lvm.sh failed (exit ${run.exitCode}):\n${run.output.slice(-6000)}`);
    console.log(
      run.output
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('['))
        .join('\n'),
    );
  } finally {
    clearInterval(sampler);
  }
  after = hostBusy();
}

// ---- reading the raw files ----

interface Step {
  name: string;
  startedAt: string;
  endedAt: string;
  detail?: string;
}
interface Summary {
  snapshot?: { id: string; method: string; quiesce: string; suspendedMs: number };
  job?: { startedAt: string; endedAt: string; steps: Step[] };
  copy?: { method: string; bytesRead: number; bytesWritten: number; changedBlocks: number; seconds: number };
}
interface TraceEvent {
  pid: number;
  at: number;
  event: string;
  md: string | null;
}
interface Rec {
  name: string;
  kind: string;
  row: string;
  run: number;
  seconds: number;
  status: number;
  summary: Summary | null;
  trace: TraceEvent[] | null;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*.+-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(qrv_\w+):(.*)$/.exec(line);
    if (m)
      events.push({
        pid: Number(m[1]),
        at: Number(m[2]) * 1000,
        event: m[3] as string,
        md: /md=(0x[0-9a-f]+)/.exec(m[4] as string)?.[1] ?? null,
      });
  }
  return events;
}

const meta = Object.fromEntries(
  (readText(join(outDir, 'meta.env')) ?? '')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
) as Record<string, string>;
const sections = Object.fromEntries(
  (readText(join(outDir, 'sections.tsv')) ?? '')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t') as [string, string]),
);
const records: Rec[] = (readText(join(outDir, 'index.tsv')) ?? '')
  .trim()
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const [name = '', kind = '', row = '', run = '0', t0 = '0', t1 = '0', status = '0'] = line.split('\t');
    const stdout = readText(join(outDir, 'rec', `${name}.json`)) ?? '';
    const last = stdout.trim().split('\n').at(-1) ?? '';
    let summary: Summary | null = null;
    if (last.startsWith('{')) summary = JSON.parse(last) as Summary;
    const trace = readText(join(outDir, 'trace', `${name}.txt`));
    return {
      name,
      kind,
      row,
      run: Number(run),
      seconds: Number(t1) - Number(t0),
      status: Number(status),
      summary,
      trace: trace === null ? null : parseTrace(trace),
    };
  });
if (scratch && !process.env.BENCH_VM_KEEP) rmSync(scratch, { recursive: true, force: true });
if (records.length === 0) throw new Error(`no results in ${outDir}`);
const failed = records.filter((r) => r.status !== 0);

// ---- kernel windows from the traces ----

interface KernelWindow {
  /** freeze_super entry to thaw_super return: writers of the filesystem are blocked */
  frozenMs: number | null;
  /** of that: freeze_super itself (syncing the filesystem, committing its journal) */
  freezingMs: number | null;
  /** the longest dm_suspend entry → dm_resume return of one device (the origin's) */
  suspendedMs: number | null;
  /** frozen before that suspend began / after that resume returned (when qrv froze first) */
  beforeSuspendMs: number | null;
  afterResumeMs: number | null;
}

function kernelWindow(events: TraceEvent[] | null): KernelWindow {
  const window: KernelWindow = {
    frozenMs: null,
    freezingMs: null,
    suspendedMs: null,
    beforeSuspendMs: null,
    afterResumeMs: null,
  };
  if (!events) return window;
  // the longest suspension of one device: dm_suspend(md) … dm_resume(md) and its return
  let longest: { from: number; to: number } | null = null;
  events.forEach((e, i) => {
    if (e.event !== 'qrv_ds' || !e.md) return;
    const resumeAt = events.findIndex((r, j) => j > i && r.event === 'qrv_dr' && r.md === e.md);
    if (resumeAt < 0) return;
    const resumer = (events[resumeAt] as TraceEvent).pid;
    const resumed = events.slice(resumeAt).find((r) => r.event === 'qrv_drr' && r.pid === resumer);
    if (resumed && (!longest || resumed.at - e.at > longest.to - longest.from))
      longest = { from: e.at, to: resumed.at };
  });
  const span = longest as { from: number; to: number } | null;
  if (span) window.suspendedMs = span.to - span.from;
  const freeze = events.findIndex((e) => e.event === 'qrv_fs');
  if (freeze < 0) return window;
  const start = events[freeze] as TraceEvent;
  const frozen = events.slice(freeze).find((e) => e.event === 'qrv_fsr');
  const thawed = events.slice(freeze).find((e) => e.event === 'qrv_tsr');
  if (frozen) window.freezingMs = frozen.at - start.at;
  if (thawed) window.frozenMs = thawed.at - start.at;
  if (span && span.from > start.at) window.beforeSuspendMs = span.from - start.at;
  if (span && thawed && thawed.at > span.to) window.afterResumeMs = thawed.at - span.to;
  return window;
}

// ---- part 1: freeze window and snapshot creation ----

const stepMs = (s: Summary | null, name: string): number | null => {
  const step = s?.job?.steps.find((x) => x.name === name);
  return step ? Date.parse(step.endedAt) - Date.parse(step.startedAt) : null;
};
const restToResumeMs = (s: Summary | null): number | null => {
  const first = s?.job?.steps.find((x) => x.name === 'bring to rest');
  const last = s?.job?.steps.find((x) => x.name === 'resume I/O');
  return first && last ? Date.parse(last.endedAt) - Date.parse(first.startedAt) : null;
};
const nums = (values: Array<number | null>): number[] =>
  values.filter((v): v is number => v !== null && Number.isFinite(v));
const med = (values: Array<number | null>, digits: number): string => {
  const v = nums(values);
  return v.length ? median(v).toFixed(digits) : '—';
};
const medOrNull = (values: Array<number | null>): number | null => {
  const v = nums(values);
  return v.length ? median(v) : null;
};

const PROVIDERS: Array<{ row: string; section: string; label: string; bare: string }> = [
  {
    row: 'lvm-classic',
    section: 'freeze_classic',
    label: 'lvm, classic LV',
    bare: '`lvcreate -s -p r -L <20 %>` / `lvremove`',
  },
  { row: 'lvm-thin', section: 'freeze_thin', label: 'lvm, thin LV', bare: '`lvcreate -s -p r` / `lvremove`' },
  {
    row: 'dm',
    section: 'freeze_dm',
    label: 'dm, plain linear device',
    bare: '`dmsetup suspend` + `dmsetup resume` (no snapshot)',
  },
  {
    row: 'file-xfs',
    section: 'freeze_file_xfs',
    label: 'file, ext4 image on XFS (loop-mounted)',
    bare: '`fsfreeze -f`, `cp --reflink`, `fsfreeze -u` / `rm`',
  },
];

interface FreezeRow {
  row: string;
  label: string;
  bareLabel: string;
  state: string;
  method: string;
  quiesce: string;
  qrvWindowMs: number[];
  kernel: KernelWindow[];
  takeMs: Array<number | null>;
  restToResumeMs: Array<number | null>;
  snapS: number[];
  unsnapS: number[];
  bareS: number[];
  bareKernel: KernelWindow[];
  bareRemoveS: number[];
}

const freezeRows: FreezeRow[] = PROVIDERS.map((p) => {
  const of = (kind: string) => records.filter((r) => r.kind === kind && r.row === p.row && r.status === 0);
  const snaps = of('snap');
  return {
    row: p.row,
    label: p.label,
    bareLabel: p.bare,
    state: sections[p.section] ?? 'not run',
    method: snaps.find((r) => r.summary?.snapshot)?.summary?.snapshot?.method ?? '',
    quiesce: snaps.find((r) => r.summary?.snapshot)?.summary?.snapshot?.quiesce ?? '',
    qrvWindowMs: nums(snaps.map((r) => r.summary?.snapshot?.suspendedMs ?? null)),
    kernel: snaps.map((r) => kernelWindow(r.trace)),
    takeMs: snaps.map((r) => stepMs(r.summary, 'take snapshot')),
    restToResumeMs: snaps.map((r) => restToResumeMs(r.summary)),
    snapS: snaps.map((r) => r.seconds),
    unsnapS: of('unsnap').map((r) => r.seconds),
    bareS: of('bare').map((r) => r.seconds),
    bareKernel: of('bare').map((r) => kernelWindow(r.trace)),
    bareRemoveS: of('bareremove').map((r) => r.seconds),
  };
});
const measuredRows = freezeRows.filter((r) => r.snapS.length > 0);

// ---- part 2: copies ----

interface CopyRow {
  lv: string;
  ddS: number[];
  runS: number[];
  runCopyS: number[];
  runVerifyS: Array<number | null>;
  updates: Array<{
    percent: number;
    method: string;
    snapS: number[];
    copyS: number[];
    copyOpS: number[];
    bytesRead: number[];
    changedBlocks: number[];
  }>;
}

const copyRows: CopyRow[] = ['lvm-classic', 'lvm-thin']
  .map((lv) => {
    const of = (kind: string, row = lv) => records.filter((r) => r.kind === kind && r.row === row && r.status === 0);
    const runsOk = of('run');
    return {
      lv,
      ddS: of('dd').map((r) => r.seconds),
      runS: runsOk.map((r) => r.seconds),
      runCopyS: nums(runsOk.map((r) => r.summary?.copy?.seconds ?? null)),
      runVerifyS: runsOk.map((r) => {
        const ms = stepMs(r.summary, 'read back every block');
        return ms === null ? null : ms / 1000;
      }),
      updates: [1, 10].map((percent) => {
        const copies = of('copy', `${lv}-${percent}`);
        const methods = [...new Set(copies.map((r) => r.summary?.copy?.method ?? '?'))];
        return {
          percent,
          method: methods.join(', ') || '—',
          snapS: of('isnap', `${lv}-${percent}`).map((r) => r.seconds),
          copyS: copies.map((r) => r.seconds),
          copyOpS: nums(copies.map((r) => r.summary?.copy?.seconds ?? null)),
          bytesRead: nums(copies.map((r) => r.summary?.copy?.bytesRead ?? null)),
          changedBlocks: nums(copies.map((r) => r.summary?.copy?.changedBlocks ?? null)),
        };
      }),
    };
  })
  .filter((r) => r.runS.length > 0 || r.ddS.length > 0);

// ---- the report ----

const during = seen.during;
/** The host's file/XFS freeze window from the "Freeze window" section (bench/freeze-window.ts), for scale. */
function hostFileXfsWindow(): number | null {
  const doc = readText(join(root, 'docs', 'PERFORMANCE.md')) ?? '';
  const m = /^\| XFS \(reflink\)[^|]*\| reflink \| ([\d.]+) \|/m.exec(doc);
  return m ? Number(m[1]) : null;
}
const hostFileMs = hostFileXfsWindow();

const machine = describeMachine(here);
const vmMemMiB = meta.memory_kib ? Math.round(Number(meta.memory_kib) / 1024) : null;
const f1 = (v: number | null, d = 1) => (v === null ? '—' : v.toFixed(d));
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`;
const thin = freezeRows.find((r) => r.row === 'lvm-thin');
const thinQrv = thin ? medOrNull(thin.qrvWindowMs) : null;
const thinFrozen = thin ? medOrNull(thin.kernel.map((k) => k.frozenMs)) : null;
const thinSuspended = thin ? medOrNull(thin.kernel.map((k) => k.suspendedMs)) : null;
const thinFreezing = thin ? medOrNull(thin.kernel.map((k) => k.freezingMs)) : null;
const thinBareFrozen = thin ? medOrNull(thin.bareKernel.map((k) => k.frozenMs)) : null;
const fileXfs = freezeRows.find((r) => r.row === 'file-xfs');
const fileQrv = fileXfs && fileXfs.snapS.length ? medOrNull(fileXfs.qrvWindowMs) : null;
const fileFrozen = fileXfs ? medOrNull(fileXfs.kernel.map((k) => k.frozenMs)) : null;
const met = (v: number | null) => (v === null ? 'not measured' : v <= 50 ? 'met' : 'NOT met');
const busyNote =
  Number(before.load) > 0.5 ||
  Number(after.load) > 0.5 ||
  before.otherVms + after.otherVms + (during?.otherVms ?? 0) > 0
    ? ` — the host was busy (other VM-lane runs: ${Math.max(before.otherVms, after.otherVms, during?.otherVms ?? 0)} other qemu process(es) seen), so the VM got less than its 2 CPUs at times and times are noisy`
    : '';
const dmState = sections.freeze_dm;
const dmQuiesce = freezeRows.find((r) => r.row === 'dm')?.quiesce ?? '';

const lines = [
  '## VM lane: LVM and dm snapshots, copies of an LV',
  '',
  `Measured ${machine.date} by \`bench/vm-lvm.ts\` in ONE boot of the VM lane (test/helpers/vm.ts: Debian's kernel`,
  `${meta.kernel ?? '?'} under qemu **TCG software emulation, no KVM**; ${meta.cpus ?? '?'} vCPUs, ${vmMemMiB ?? '?'} MiB; LVM ${meta.lvm ?? '?'}; node ${meta.node ?? '?'} and`,
  '`dist/qrv.mjs` from the host over 9p; the data disk a sparse file with `cache=unsafe`). CPU-bound work runs',
  '**roughly 25× slower than on the host**, and every process start (node above all: 2–4 s for a `qrv` command) is',
  'inflated the same way, so the absolute numbers are pessimistic: what means something is the comparison with the',
  'bare mechanism and with `dd` **in the same VM**, and the kernel-side windows.',
  '',
  `- Host: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}; ${machine.node}`,
  `- Host 1-minute load average at the start / end: ${before.load} / ${after.load}${during ? ` (highest seen during: ${during.load})` : ''}${busyNote}`,
  vmSeconds !== null
    ? `- VM run: ${vmSeconds.toFixed(0)} s in all (boot ${f1(bootSeconds)} s)`
    : `- Report made from the raw files of an earlier run (${outDir})`,
  ...(failed.length
    ? [`- **${failed.length} measured command(s) failed** and are left out: ${failed.map((r) => r.name).join(', ')}`]
    : []),
  '',
  '### Freeze window and snapshot creation',
  '',
  `${meta.runs ?? runs} \`qrv snap\` runs per provider (each its own process), of a mounted ${meta.freeze_mib ?? '?'} MiB ext4 with ${meta.dirty_mib ?? '?'} MiB of fresh, unsynced`,
  'data written before each; each snapshot removed again by `qrv unsnap`. Then as many bare snapshots of the same',
  'mechanism without qrv, after the same dirty data and the same `sync -f` qrv does first (outside its window).',
  '',
  'Three measures of the window, from the outside in:',
  '',
  "- **qrv window** — the snapshot row's `suspendedMs`, as qrv records it (src/engine/snapshot-phase.ts). For **lvm**",
  '  (quiesce `dm-suspend`) qrv does not freeze anything itself — a FIFREEZE of its own would make the suspend fail —',
  '  `bringToRest` only runs `sync -f` on the mounted filesystem, and `suspendedMs` is the wall time of the whole',
  "  `lvm lvcreate -s` child process (src/providers/lvm/lvm-provider.ts): lvm's start-up, locking, device scan,",
  '  metadata read, write and commit, the table loads, **and** the suspend/resume, in which the kernel freezes the',
  '  filesystem (dm suspend with lockfs). It is an upper bound on the I/O-blocked time, most of which is not blocked.',
  ...(dmQuiesce === 'fsfreeze'
    ? [
        '  For **dm** (quiesce `fsfreeze` in this build) qrv freezes the filesystem itself (`fsfreeze -f`, under its guard)',
        '  and the provider suspends the device with `--nolockfs`; `suspendedMs` runs from spawning `fsfreeze -f` to',
        "  `fsfreeze -u` returning, so it holds the provider's whole `createSnapshot` (src/providers/dm/dm-provider.ts):",
        '  `dmsetup info`/`table`, `blockdev`, the COW file and its `losetup`, then `dmsetup suspend`, `create` of the',
        '  snapshot device, `reload` of the origin as snapshot-origin, `resume`.',
      ]
    : dmQuiesce === 'dm-suspend'
      ? [
          '  For **dm** (quiesce `dm-suspend` in this build) it runs from spawning `dmsetup suspend` (with lockfs) to',
          '  `dmsetup resume` returning: suspend, create of the snapshot device, reload of the origin, resume.',
        ]
      : []),
  '  For **file** it runs from spawning `fsfreeze -f` to `fsfreeze -u` returning (FICLONE in between).',
  '- **kernel: fs frozen** — from kprobes in the VM kernel (tracefs): `freeze_super` entry to `thaw_super` return on',
  '  the volume\'s filesystem, the time its writers are blocked. "of which freezing" is `freeze_super` itself',
  '  (writing out what is dirty, committing the journal) — writers wait during it too.',
  "- **kernel: device suspended** — the longest `dm_suspend` entry → `dm_resume` return of one device (the origin's;",
  '  lvm and dm only): the window in which bios to the device are held.',
  '',
  '| Provider | Method, quiesce | qrv window, median ms | kernel: fs frozen, median ms | of which freezing | kernel: device suspended, median ms | "take snapshot" step, median ms | bring to rest → resume I/O, median ms | `qrv snap` process, median s | `qrv unsnap` process, median s |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...measuredRows.map(
    (r) =>
      `| ${r.label} | ${r.method}, ${r.quiesce} | ${med(r.qrvWindowMs, 1)} | ${med(
        r.kernel.map((k) => k.frozenMs),
        1,
      )} | ${med(
        r.kernel.map((k) => k.freezingMs),
        1,
      )} | ${med(
        r.kernel.map((k) => k.suspendedMs),
        1,
      )} | ${med(r.takeMs, 0)} | ${med(r.restToResumeMs, 0)} | ${med(r.snapS, 2)} | ${med(r.unsnapS, 2)} |`,
  ),
  '',
  "The bare mechanism, timed from the benchmark's shell (one process per command, no node):",
  '',
  '| Provider | Bare snapshot / removal | Create, median s | kernel: fs frozen, median ms | kernel: device suspended, median ms | Remove, median s |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...measuredRows.map(
    (r) =>
      `| ${r.label} | ${r.bareLabel} | ${med(r.bareS, 3)} | ${med(
        r.bareKernel.map((k) => k.frozenMs),
        1,
      )} | ${med(
        r.bareKernel.map((k) => k.suspendedMs),
        1,
      )} | ${r.bareRemoveS.length ? med(r.bareRemoveS, 3) : '—'} |`,
  ),
  '',
  'All runs, qrv window (ms) and kernel fs-frozen window (ms):',
  '',
  ...measuredRows.flatMap((r) => [
    `- ${r.label}: qrv ${list(r.qrvWindowMs, 0)}; kernel ${list(nums(r.kernel.map((k) => k.frozenMs)), 1)}`,
  ]),
  ...measuredRows
    .filter((r) => nums(r.kernel.map((k) => k.beforeSuspendMs)).length)
    .map(
      (r) =>
        `- ${r.label}: qrv froze the filesystem before the device suspend: of the kernel fs-frozen window, a median ${med(
          r.kernel.map((k) => k.beforeSuspendMs),
          1,
        )} ms pass before \`dm_suspend\` begins and ${med(
          r.kernel.map((k) => k.afterResumeMs),
          1,
        )} ms after \`dm_resume\` returns (the suspend itself: ${med(
          r.kernel.map((k) => k.suspendedMs),
          1,
        )} ms). The bare \`dmsetup suspend\` + \`resume\` keeps it frozen ${med(
          r.bareKernel.map((k) => k.frozenMs),
          1,
        )} ms.`,
    ),
  ...freezeRows
    .filter((r) => r.snapS.length === 0)
    .map(
      (r) =>
        `- ${r.label}: not measured (${r.state === 'absent' ? 'not available in this build or VM' : r.state === 'off' ? 'left out (BENCH_VM_FILE=0)' : `the section failed: exit ${r.state}`})`,
    ),
  '',
  `**Target (issue #5): freeze window ≤ 50 ms median on thin LVM.** As qrv records it (the \`lvcreate\` process): ${met(thinQrv)}, ${f1(thinQrv)} ms`,
  `median in this VM. The time the filesystem's writers are really blocked (kernel, \`freeze_super\` → \`thaw_super\`):`,
  `${f1(thinFrozen)} ms median, ${met(thinFrozen)} in the VM either (the device's suspend: ${f1(thinSuspended)} ms; \`freeze_super\` itself, i.e. writing out`,
  `and committing the journal: ${f1(thinFreezing)} ms), against ${f1(thinBareFrozen)} ms for a bare \`lvcreate -s\`: ${thinFrozen !== null && thinBareFrozen !== null && thinFrozen <= thinBareFrozen * 1.25 ? 'qrv adds nothing to the real window (within noise),' : "qrv's real window is longer than the bare one here,"}`,
  'and what it records is the whole lvcreate process, which emulation inflates most.',
  ...(fileQrv !== null && hostFileMs !== null
    ? [
        `For scale: the file provider on XFS, ${hostFileMs} ms median on the host (section "Freeze window", bench/freeze-window.ts), measures`,
        `${f1(fileQrv)} ms here (kernel-side ${f1(fileFrozen)} ms): ≈ ${(fileQrv / hostFileMs).toFixed(0)}× longer in this VM. Scaled down by that factor — a rough`,
        `estimate, not a measurement — thin LVM's kernel window would be ≈ ${thinFrozen === null ? '—' : (thinFrozen / (fileQrv / hostFileMs)).toFixed(0)} ms and qrv's recorded window`,
        `≈ ${thinQrv === null ? '—' : (thinQrv / (fileQrv / hostFileMs)).toFixed(0)} ms on the host's hardware; a real measurement needs a host with device-mapper.`,
      ]
    : []),
  ...(dmState === undefined || dmState === 'absent'
    ? [
        '',
        'The dm provider was not available in this build (no `--device` on `qrv volume add`), so its rows are missing.',
      ]
    : []),
  '',
  '### Copies of an LV against `dd`',
  '',
  `A ${meta.lv_mib ?? lvMiB} MiB LV (classic, then thin in a pool of 1.5× its size) filled with random data (a 64 MiB random pattern`,
  "repeated), not mounted. Destination: files on a separate ext4 LV mounted at /mnt/dest (not tmpfs, which the VM's",
  `memory bounds). Full copies: ${meta.copy_runs ?? copyRuns} × \`qrv run LV --to /mnt/dest/LV-i.img --keep-snapshot\` (snapshot, copy, read back every`,
  'block, as the CLI does after every fresh copy), each followed by `dd if=<that snapshot LV> of=/mnt/dest/dd.img bs=4M',
  "conv=fsync`. Updates: 1 % and 10 % of the LV's 64 KiB blocks rewritten with random data (distinct random blocks),",
  `then \`qrv snap\` and \`qrv copy SNAP --to <the last full copy's QRV>\`, ${meta.incr_runs ?? incrRuns} times per level; the previous snapshot is the`,
  "update's base and is removed after it. Before every timed copy the cached blocks of every dm device and of the disk",
  "are dropped (`blockdev --flushbufs`; for updates also the QRV file's cache, by fadvise) — not the whole page cache,",
  "since node and the bundle come over 9p and re-reading them costs 10+ s per process here. The host's own page",
  'cache still holds the disk image (`cache=unsafe`). The dd column is the same in every row of an LV: the median of',
  'the dd runs of the full-copy phase (a whole-LV dd does not depend on how much changed).',
  '',
  '| LV | Contender | Median s (process) | Median s (copy step) | MB/s (LV size / process median) | vs dd (process) | vs dd (copy step) | Read | Written | All runs, process (s) |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...copyRows.flatMap((r) => {
    const size = Number(meta.lv_mib ?? lvMiB) * MiB;
    const dd = medOrNull(r.ddS);
    const runMed = medOrNull(r.runS);
    const runCopy = medOrNull(r.runCopyS);
    const mbs = (s: number | null) => (s === null ? '—' : (size / 1e6 / s).toFixed(0));
    const mib = (b: number | null) => (b === null ? '—' : `${(b / MiB).toFixed(1)} MiB`);
    return [
      `| ${r.lv} | \`qrv run\` (full copy + read back) | ${f1(runMed, 2)} | ${f1(runCopy, 2)} | ${mbs(runMed)} | ${ratio(runMed, dd)} | ${ratio(runCopy, dd)} | ${mib(size)} | ${mib(size)} | ${list(r.runS, 2)} |`,
      `| ${r.lv} | \`dd bs=4M conv=fsync\` | ${f1(dd, 2)} | — | ${mbs(dd)} | 1.00× | — | ${mib(size)} | ${mib(size)} | ${list(r.ddS, 2)} |`,
      ...r.updates
        .filter((u) => u.copyS.length)
        .map((u) => {
          const p = medOrNull(u.copyS);
          const op = medOrNull(u.copyOpS);
          return `| ${r.lv} | \`qrv copy\` update, ${u.percent} % changed (method: ${u.method}) | ${f1(p, 2)} | ${f1(op, 2)} | — | ${ratio(p, dd)} | ${ratio(op, dd)} | ${mib(medOrNull(u.bytesRead))} | ${mib(medOrNull(u.changedBlocks) === null ? null : (medOrNull(u.changedBlocks) as number) * 65536)} | ${list(u.copyS, 2)} |`;
        }),
      ...r.updates
        .filter((u) => u.snapS.length)
        .map(
          (u) =>
            `| ${r.lv} | \`qrv snap\` before the ${u.percent} % update | ${med(u.snapS, 2)} | — | — | — | — | — | — | ${list(u.snapS, 2)} |`,
        ),
    ];
  }),
  '',
  ...copyRows.map((r) => {
    const verify = medOrNull(r.runVerifyS);
    const runMed = medOrNull(r.runS);
    const copy = medOrNull(r.runCopyS);
    return `- ${r.lv}: of the \`qrv run\` median ${f1(runMed, 1)} s, the copy step is ${f1(copy, 1)} s and reading every block back ${f1(verify, 1)} s; the rest is node start-up, the snapshot and the catalog (all inflated by emulation). Updates: ${r.updates.map((u) => `${u.percent} %: method ${u.method}`).join('; ')}.`;
  }),
  '',
  "Re-run: `npm run bench:vm` (builds, then `node --import tsx bench/vm-lvm.ts`) as root with the VM lane's tools",
  '(test/vm/README.md). Environment: `BENCH_RUNS` (snapshots per provider, default 10), `BENCH_VM_LV_MIB` (default 512),',
  '`BENCH_VM_COPY_RUNS` (default 3), `BENCH_VM_INCR_RUNS` (default 3), `BENCH_VM_FILE=0` (no file/XFS row),',
  '`BENCH_NO_DOCS=1` (print only), `BENCH_VM_KEEP=DIR` (keep the raw files), `BENCH_VM_RESULTS=DIR` (report on kept files).',
];

await publishSection(root, 'vm-lvm', lines);
