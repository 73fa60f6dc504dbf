// The VM lane's smoke test: boots the VM once (test/helpers/vm.ts) and runs test/vm/smoke.sh in
// it: LVM on a blank disk, ext4 + fsfreeze (a writer blocks while frozen), a classic snapshot
// (its dmsetup status, its content unchanged by later writes to the origin), a thin pool with a
// thin LV and a thin snapshot (activated with -K), thin_delta through a reserved metadata
// snapshot reporting exactly the chunks written since, lvs/dmsetup reports, and the repository's
// own `bin/qrv` running inside. Skipped with the reason on a developer's machine without the
// lane's tools, fails in CI (CI=true).
//
// QRV_VM_CAPTURE=1 also copies the raw reports into test/vm/captured/ for parser tests.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { tmpDir } from '../helpers/tmp.ts';
import { REPO_ROOT, VmError, checkExecutable, commentRun, runInVm, vmLane, vmTestTimeout } from '../helpers/vm.ts';

const SCRIPT = path.join(REPO_ROOT, 'test/vm/smoke.sh');
const CAPTURED = path.join(REPO_ROOT, 'test/vm/captured');
const REPORTS = [
  'versions.txt',
  'lvs.json',
  'dmsetup-status-snapshot.txt',
  'dmsetup-status-thin-pool.txt',
  'dmsetup-status.txt',
  'dmsetup-table.txt',
  'thin-delta.xml',
];
// three VM runs: the smoke script (90 s quiet), three panicking boots (60 s), the hang (boot + 30 s)
t.setTimeout(vmTestTimeout(90_000 + 60_000 + 120_000));

interface LvRow {
  lv_name: string;
  vg_name: string;
  lv_attr: string;
  lv_size: string;
  origin: string;
  snap_percent: string;
  data_percent: string;
  lv_tags: string;
  pool_lv: string;
}

/** "=== name @ uptime" lines → seconds each step took, in the VM. */
function stepTimes(output: string): Array<[string, number]> {
  const marks = [...output.matchAll(/^=== (\S+) @ ([\d.]+)$/gm)].map((m) => [m[1] as string, Number(m[2])] as const);
  return marks.slice(0, -1).map(([name, at], i) => [name, Number(((marks[i + 1]?.[1] ?? at) - at).toFixed(2))]);
}

t.test('VM lane: LVM, dm snapshots, thin pool + thin_delta, fsfreeze, node', async (t) => {
  if (!vmLane(t)) return;
  await checkExecutable();
  const outDir = await tmpDir(t, 'qrv-vm-smoke-');
  const script = await fs.readFile(SCRIPT, 'utf8');
  const run = await runInVm(script, { diskMiB: 1024, memoryMiB: 1024, timeoutMs: 90_000, outDir });
  commentRun(t, run);
  t.comment(
    `boot to script ${run.bootSeconds.toFixed(1)} s; steps (s): ${stepTimes(run.output)
      .map(([name, s]) => `${name} ${s}`)
      .join(', ')}`,
  );
  t.equal(run.exitCode, 0, 'the script succeeded', { output: run.output });
  const out = run.output;

  t.match(out, /^kernel \d+\.\d+\.\S+$/m, 'reports the VM kernel');
  t.match(out, /^lvm 2\.\d+\.\d+/m, 'lvm runs');

  t.match(out, /^writer blocked while frozen$/m, 'a write blocks while the filesystem is frozen');
  t.match(out, /^thawed: written while frozen$/m, 'and completes after the thaw');

  t.match(out, /^origin file: after snapshot$/m, 'the origin has the later content');
  t.match(out, /^snapshot file: before snapshot$/m, 'the classic snapshot keeps the content at snapshot time');
  t.match(out, /^snapshot has no 'more'$/m, 'files written after the snapshot are not in it');

  const snapStatus = (await fs.readFile(path.join(outDir, 'dmsetup-status-snapshot.txt'), 'utf8')).trim();
  const snap = /^0 (\d+) snapshot (\d+)\/(\d+) (\d+)$/.exec(snapStatus);
  t.ok(snap, `classic snapshot status "<start> <len> snapshot <used>/<total> <metadata>": ${snapStatus}`);
  if (snap) {
    t.equal(Number(snap[1]), (64 * 1024 * 1024) / 512, 'origin length in sectors');
    t.equal(Number(snap[3]), (32 * 1024 * 1024) / 512, 'COW store size in sectors');
    t.ok(Number(snap[2]) > Number(snap[4]), 'the COW store holds the chunks written since the snapshot');
  }

  t.match(out, /^thinsnap active: active$/m, 'the thin snapshot activates with -K');
  const delta = await fs.readFile(path.join(outDir, 'thin-delta.xml'), 'utf8');
  const ranges = [...delta.matchAll(/<(same|different|left_only|right_only) begin="(\d+)" length="(\d+)"\/>/g)].map(
    (m) => `${m[1]} ${m[2]}+${m[3]}`,
  );
  t.same(
    ranges.filter((r) => !r.startsWith('same')),
    ['different 5+1', 'right_only 100+3'],
    'thin_delta reports exactly the chunks written since the thin snapshot',
  );
  t.match(delta, /data_block_size="128"/, 'in 64 KiB chunks (128 sectors)');

  const lvs = JSON.parse(await fs.readFile(path.join(outDir, 'lvs.json'), 'utf8')) as {
    report: Array<{ lv: LvRow[] }>;
  };
  const rows = new Map((lvs.report[0]?.lv ?? []).map((row) => [row.lv_name, row]));
  t.same([...rows.keys()].sort(), ['data', 'pool', 'snap', 'thin', 'thinsnap'], 'lvs lists the five LVs');
  t.match(rows.get('data'), { vg_name: 'vg0', lv_attr: /^o/, lv_size: '67108864B' }, 'data: an origin');
  t.match(
    rows.get('snap'),
    { lv_attr: /^s/, origin: 'data', lv_size: '33554432B', snap_percent: /^\d+\.\d+$/, lv_tags: 'qrv,qrv:group=g1' },
    'snap: a classic snapshot of data, with its tags',
  );
  t.match(rows.get('pool'), { lv_attr: /^t/, data_percent: /^\d+\.\d+$/ }, 'pool: a thin pool');
  t.match(rows.get('thin'), { lv_attr: /^V/, pool_lv: 'pool', origin: '' }, 'thin: a thin LV in pool');
  t.match(
    rows.get('thinsnap'),
    { lv_attr: /^V.{8}k$/, pool_lv: 'pool', origin: 'thin', lv_tags: 'qrv,qrv:group=g2' },
    'thinsnap: a thin snapshot of thin, skip-activation flag set, with its tags',
  );

  const poolStatus = (await fs.readFile(path.join(outDir, 'dmsetup-status-thin-pool.txt'), 'utf8')).trim();
  t.match(poolStatus, /^0 \d+ thin-pool \d+ \d+\/\d+ \d+\/\d+ - rw /, `thin-pool status: ${poolStatus}`);
  const table = await fs.readFile(path.join(outDir, 'dmsetup-table.txt'), 'utf8');
  t.match(table, /^vg0-snap: 0 \d+ snapshot \d+:\d+ \d+:\d+ P \d+$/m, 'dmsetup table: the persistent classic snapshot');
  t.match(table, /^vg0-thinsnap: 0 \d+ thin \d+:\d+ \d+$/m, 'dmsetup table: the thin snapshot');

  const version = (JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  t.match(
    out,
    new RegExp(`^qrv ${version.replace(/\./g, '\\.')} \\([0-9a-f]{12}(-modified)?\\)$`, 'm'),
    "the repository's bin/qrv runs in the VM (its version and commit)",
  );
  t.match(
    out,
    new RegExp(`^qrv-executable ${version.replace(/\./g, '\\.')} \\([0-9a-f]{12}(-modified)?\\)$`, 'm'),
    'so does the single executable dist/qrv, which the lane scripts run',
  );

  if (process.env.QRV_VM_CAPTURE === '1') {
    await fs.mkdir(CAPTURED, { recursive: true });
    for (const name of REPORTS) await fs.copyFile(path.join(outDir, name), path.join(CAPTURED, name));
    t.comment(`captured ${REPORTS.join(', ')} into test/vm/captured/`);
  }
});

// A kernel that dies before /init runs the script is an emulator fault (see BOOT_RETRIES in
// test/helpers/vm.ts) and is booted again, at most twice; the third crash is the test's failure.
// Here every boot panics for certain: no init in the initramfs and no root to mount.
t.test('VM lane: a boot that panics before the script begins is retried twice, then reported', async (t) => {
  if (!vmLane(t)) return;
  const started = performance.now();
  const err = await runInVm('echo never', {
    timeoutMs: 60_000,
    append: ['rdinit=/qrv-no-such-init', 'init=/qrv-no-such-init'],
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.comment(`three panicking boots took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.ok(err instanceof VmError, 'the run fails with a VmError');
  if (!(err instanceof VmError)) return;
  t.match(err.message, /without reporting the script's exit status/, 'saying the script never reported');
  t.match(err.console, /Kernel panic/, 'the console of the last boot shows the panic');
  t.equal(err.bootRetries.length, 2, 'after two retries');
  for (const line of err.bootRetries) t.match(line, /^Kernel panic/, `each retry names the crash: ${line}`);
});

// A run that hangs is found by its silent console, not by a whole-run limit that a loaded CI
// machine could also reach (LOAD_ALLOWANCE in test/helpers/vm.ts): the error names the last line.
t.test('VM lane: a script that hangs is stopped by the console watchdog, naming its last line', async (t) => {
  if (!vmLane(t)) return;
  const started = performance.now();
  // the boot itself may be silent for longer than this (it is timed by its own, larger limit)
  const err = await runInVm('echo step-before-the-hang; sleep 3600', { timeoutMs: 600_000, silenceMs: 5_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const seconds = (performance.now() - started) / 1000;
  t.comment(`the hung run was stopped after ${seconds.toFixed(1)} s`);
  t.ok(err instanceof VmError, 'the run fails with a VmError');
  if (!(err instanceof VmError)) return;
  t.match(
    err.message,
    /hung: its console printed nothing for 5 s after "step-before-the-hang"/,
    'saying where it hung',
  );
  t.ok(seconds < 600, 'long before the whole-run limit');
  t.notMatch(err.console, /@@QRV-VM-EXIT/, 'the script never ended by itself');
});
