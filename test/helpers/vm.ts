// The VM lane: runs a shell script as root inside a small qemu VM whose kernel has
// device-mapper (this machine's own kernel has none), for the lvm / dm providers' tests.
//
// The VM boots Debian's kernel (package linux-image-amd64) under software emulation (TCG) with
// an initramfs built and cached by test/vm/build-initramfs.sh. Inside it:
//   /dev/vda   a fresh sparse data disk of diskMiB (virtio, cache=unsafe), for LVM
//   /repo      this repository, read-only over 9p: `node /repo/bin/qrv ...` runs the host's build
//   /tmp       tmpfs (also TMPDIR and the script's working folder)
//   $QRV_VM_OUT  a writable folder whose files are copied to options.outDir after the run
//   modules    loop, dm-mod, dm-snapshot, dm-thin-pool, ext4, 9p loaded; xfs, overlay, ... by
//              modprobe or on demand (mount -t xfs)
//   tools      busybox, bash, lvm (lvm.conf without udev/lvmetad/dmeventd), dmsetup, thin_*,
//              e2fsprogs, util-linux, xfsprogs (when installed on the host), node
// The script's stdout and stderr come back on the serial console between two markers; the
// second carries its exit status. qemu is killed on timeout, the VM also powers itself off
// shortly after, and the run's temporary folder (disk image included) is removed.
//
// Host needs: root and the Debian packages of test/vm/host-packages.txt (vmBlocker() names what is missing).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execaSync } from 'execa';
import type { Test } from 'tap';
import { bundleLaneFile } from './vm-bundle.ts';
import { takeVmSlot } from './vm-slot.ts';
import { REPO_ROOT, findKernel, type VmImage, vmImage } from './vm-image.ts';

export { REPO_ROOT, vmBlocker, vmImage, type VmImage, vmKernels, vmLane } from './vm-image.ts';

const BEGIN = '@@QRV-VM-BEGIN@@';
const EXIT = /^@@QRV-VM-EXIT (\d+)@@$/gm;

export interface VmOptions {
  /** Size of the sparse data disk /dev/vda (default 1024). */
  diskMiB?: number;
  /** Guest memory (default 1024). */
  memoryMiB?: number;
  /**
   * What the whole run, boot included, takes at most on a quiet machine (default 120000). qemu is
   * killed only after LOAD_ALLOWANCE times this, or when the console stays silent for SILENCE_MS:
   * a loaded CI machine must not fail a run that is merely slow, and a hang is still found fast.
   */
  timeoutMs?: number;
  /**
   * Guest CPUs (default 1, with single-threaded TCG): emulated, one CPU does the same work for
   * less host CPU and sooner, even alone (measurements in test/vm/README.md).
   */
  cpus?: number;
  /** Host folder that receives the files the script wrote into $QRV_VM_OUT. */
  outDir?: string;
  /** Host folder mounted read-only at /repo (default: this repository). */
  repo?: string;
  /** Print timestamps of the boot steps into the console log. */
  debug?: boolean;
  /** The kernel version to boot (one of vmKernels(); default: the newest). */
  kernel?: string;
  /** A console silent this long means the run hung (default SILENCE_MS). */
  silenceMs?: number;
  /** More kernel command-line arguments (the retry test makes the boot panic with them). */
  append?: string[];
  /**
   * A host file to use as /dev/vda instead of a fresh disk: made (sparse, diskMiB) when absent and
   * kept after the run, so that a second run boots with what the first left on it (a reboot).
   */
  disk?: string;
}

export interface VmResult {
  /** The script's exit status. */
  exitCode: number;
  /** The script's stdout and stderr, interleaved, with \n line ends. */
  output: string;
  /** Wall time of the whole run (build lookup, boot, script, power-off). */
  seconds: number;
  /** Wall time from starting qemu to the script starting. */
  bootSeconds: number;
  /** Everything the VM printed, boot messages included (for diagnosing). */
  console: string;
  /** Boots that crashed before the script began and were retried (see BOOT_RETRIES). */
  bootRetries: string[];
  /** Time spent waiting for a VM slot before the run (test/helpers/vm-slot.ts), not in `seconds`. */
  slotWaitSeconds: number;
}

export class VmError extends Error {
  /** The boots before this one that crashed before the script began (runInVm retried them). */
  bootRetries: string[] = [];
  constructor(
    message: string,
    readonly console: string,
  ) {
    super(`${message}\n--- VM console (last 4000 chars) ---\n${console.slice(-4000)}`);
    this.name = 'VmError';
  }
}

const RUN_PREFIX = 'qrv-vm-run-';

/**
 * How much slower than on a quiet machine a run may be before it counts as hung. Measured: the
 * dm-e2e run took 193 s alone and hit a fixed 420 s limit with the rest of CI beside it on 2 CPUs.
 */
export const LOAD_ALLOWANCE = 3;
/** A script whose console prints nothing for this long is hung (every VM script prints per step). */
export const SILENCE_MS = Number(process.env.QRV_VM_SILENCE_MS ?? 300_000);
/**
 * The boot is quiet (loglevel=3): it may print nothing until the script begins. Measured: 2–5 s
 * alone, 54.7 s with seven test processes beside it on 2 CPUs.
 */
const BOOT_SILENCE_MS = 300_000;

/** A tap time limit for a test file whose VM runs add up to `timeoutMs` on a quiet machine. */
export function vmTestTimeout(timeoutMs: number): number {
  return timeoutMs * LOAD_ALLOWANCE + 60_000;
}

/** Removes the run folders (disk images) of processes that died before cleaning up. */
async function sweepRunDirs(): Promise<void> {
  const entries = await fsp.readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const name of entries) {
    const pid = Number(/^qrv-vm-run-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await fsp.rm(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let setprivKnown: boolean | undefined;
function hasSetpriv(): boolean {
  setprivKnown ??= /pdeathsig/.test(execaSync('setpriv', ['--help'], { reject: false }).stdout ?? '');
  return setprivKnown;
}

// qemu processes still running, killed if this process exits first
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}

function qemuArgs(
  image: VmImage,
  runDir: string,
  opts: Required<Pick<VmOptions, 'memoryMiB' | 'cpus' | 'timeoutMs' | 'repo' | 'debug' | 'append' | 'disk'>>,
): string[] {
  const guestTimeout = Math.ceil((opts.timeoutMs * LOAD_ALLOWANCE) / 1000) + 10; // the guest's own backstop, after the host's
  const append = [
    'console=ttyS0',
    'panic=-1',
    'quiet',
    'loglevel=3',
    // faster boot under emulation; nothing here is about security
    'mitigations=off',
    'cryptomgr.notests',
    'no_timer_check',
    'tsc=reliable',
    `qrv_timeout=${guestTimeout}`,
    ...(opts.debug ? ['qrv_debug=1'] : []),
    ...opts.append,
  ].join(' ');
  const virtfs = (tag: string, dir: string, readonly: boolean) => [
    '-virtfs',
    `local,path=${dir.replace(/,/g, ',,')},mount_tag=${tag},security_model=none,id=${tag}${readonly ? ',readonly=on' : ''}`,
  ];
  const qboot = '/usr/share/qemu/qboot.rom';
  return [
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-no-reboot',
    ...(fs.existsSync(qboot) ? ['-bios', qboot] : []),
    '-accel',
    process.env.QRV_VM_ACCEL ?? (opts.cpus > 1 ? 'tcg,thread=multi' : 'tcg,thread=single'),
    '-cpu',
    'max',
    '-smp',
    String(opts.cpus),
    '-m',
    String(opts.memoryMiB),
    '-kernel',
    image.kernel,
    '-initrd',
    image.initramfs,
    '-append',
    append,
    '-drive',
    `file=${opts.disk.replace(/,/g, ',,')},if=virtio,format=raw,cache=unsafe`,
    ...virtfs('qrvio', path.join(runDir, 'io'), false),
    ...virtfs('repo', opts.repo, true),
    ...virtfs('node', path.dirname(image.node), true),
    '-device',
    'virtio-rng-pci',
  ];
}

/**
 * How many times a boot that panics before the script begins is retried. The 6.12 kernel under
 * multi-threaded TCG now and then dies of an unhandled int3 while patching a static key at boot
 * (seen once in CI: "Oops: int3" at sched_clock_cpu, in do_one_initcall, before /init ran): a
 * fault of the emulator's cross-CPU code patching, not of anything under test. A crash after the
 * script began is never retried.
 */
const BOOT_RETRIES = 2;
const BOOT_CRASH = /Kernel panic|Oops: /;

/**
 * Boots the VM, runs `script` as root inside (with /bin/sh unless it starts with #!), powers off.
 * Waits first for a VM slot: at most one VM per CPU runs at once on the machine.
 */
export async function runInVm(script: string, options: VmOptions = {}): Promise<VmResult> {
  const bootRetries: string[] = [];
  const slot = await takeVmSlot();
  try {
    for (;;) {
      try {
        return { ...(await runOnce(script, options)), bootRetries, slotWaitSeconds: slot.waitedSeconds };
      } catch (err) {
        if (!(err instanceof VmError)) throw err;
        err.bootRetries = bootRetries;
        const crash = err.console.includes(BEGIN) ? null : BOOT_CRASH.exec(err.console);
        if (!crash || bootRetries.length >= BOOT_RETRIES) throw err;
        const line = err.console.slice(crash.index).split('\n')[0]?.trim() ?? crash[0];
        bootRetries.push(line);
        process.stderr.write(`# VM kernel crashed while booting, before the script began (${line}); booting again\n`);
      }
    }
  } finally {
    await slot.release();
  }
}

/**
 * Under coverage (scripts/coverage/parent.mjs gave this test process QRV_CHILD_COVERAGE), the
 * node processes of the script record their coverage of the bundle too, as on the host: into
 * the VM's tmpfs (each write over 9p cost ~90 ms of a qrv start there: 1.54 s against 1.45 s, the
 * medians of 10), copied to /qrv-io/coverage by /init after the script, brought back after the run.
 */
function withCoverage(script: string): string {
  if (!process.env.QRV_CHILD_COVERAGE) return script;
  const exports =
    'export NODE_OPTIONS="--require=/repo/scripts/coverage/child.cjs" QRV_CHILD_COVERAGE=/tmp/qrv-coverage\n';
  if (!script.startsWith('#!')) return exports + script;
  const firstLine = script.indexOf('\n') + 1;
  return script.slice(0, firstLine) + exports + script.slice(firstLine);
}

/** Copies the VM's coverage files to this process's folder, with /repo made the host's path of the repository. */
async function bringCoverageBack(runDir: string, repo: string): Promise<void> {
  const target = process.env.QRV_CHILD_COVERAGE;
  if (!target) return;
  const from = path.join(runDir, 'io', 'coverage');
  const names = await fsp.readdir(from).catch(() => [] as string[]);
  if (names.length) await fsp.mkdir(target, { recursive: true });
  const inside = 'file:///repo/';
  const outside = `${pathToFileURL(repo).href}/`;
  for (const name of names) {
    const text = await fsp.readFile(path.join(from, name), 'utf8');
    await fsp.writeFile(path.join(target, `vm-${name}`), text.split(inside).join(outside));
  }
}

async function runOnce(script: string, options: VmOptions): Promise<Omit<VmResult, 'bootRetries' | 'slotWaitSeconds'>> {
  const started = performance.now();
  const opts = {
    diskMiB: options.diskMiB ?? 1024,
    memoryMiB: options.memoryMiB ?? 1024,
    timeoutMs: options.timeoutMs ?? 120_000,
    cpus: options.cpus ?? 1,
    repo: options.repo ?? REPO_ROOT,
    debug: options.debug ?? false,
    append: options.append ?? [],
    silenceMs: options.silenceMs ?? SILENCE_MS,
    disk: options.disk ?? '',
  };
  const image = await vmImage(options.kernel ?? findKernel() ?? '');
  await sweepRunDirs();
  const runDir = await fsp.mkdtemp(path.join(os.tmpdir(), `${RUN_PREFIX}${process.pid}-`));
  let child: ChildProcess | undefined;
  try {
    await fsp.mkdir(path.join(runDir, 'io', 'out'), { recursive: true });
    await fsp.writeFile(path.join(runDir, 'io', 'script'), withCoverage(script), { mode: 0o755 });
    if (!opts.disk || !fs.existsSync(opts.disk)) {
      opts.disk ||= path.join(runDir, 'disk.img');
      const disk = await fsp.open(opts.disk, 'w');
      await disk.truncate(opts.diskMiB * 1024 * 1024);
      await disk.close();
    }

    const remaining = opts.timeoutMs - (performance.now() - started);
    const spawned = performance.now();
    let consoleText = '';
    let stderr = '';
    let beganAt: number | undefined;
    let timedOut = false;
    // setpriv --pdeathsig: qemu gets SIGKILL if this process dies, even by a signal
    const [command, args] = hasSetpriv()
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...qemuArgs(image, runDir, opts)]]
      : ['qemu-system-x86_64', qemuArgs(image, runDir, opts)];
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    track(proc);
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    let lastOutputAt = performance.now();
    proc.stdout.on('data', (chunk: string) => {
      consoleText += chunk;
      lastOutputAt = performance.now();
      if (beganAt === undefined && consoleText.includes(BEGIN)) beganAt = performance.now();
    });
    proc.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    let silentFor: string | undefined;
    let silentMs = 0;
    const timer = setTimeout(
      () => {
        timedOut = true;
        proc.kill('SIGKILL');
      },
      Math.max(remaining * LOAD_ALLOWANCE, 1),
    );
    const watchdog = setInterval(() => {
      const limit = beganAt === undefined ? Math.max(opts.silenceMs, BOOT_SILENCE_MS) : opts.silenceMs;
      if (performance.now() - lastOutputAt < limit) return;
      silentFor = beganAt === undefined ? 'the boot, before the script began' : lastLine(consoleText);
      silentMs = limit;
      proc.kill('SIGKILL');
    }, 1000);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('close', (code, signal) => resolve({ code, signal }));
    }).finally(() => {
      clearTimeout(timer);
      clearInterval(watchdog);
    });

    const text = consoleText.replace(/\r\n/g, '\n');
    const diagnosis = stderr.trim() ? `${text}\n--- qemu stderr ---\n${stderr}` : text;
    if (silentFor !== undefined)
      throw new VmError(
        `VM run hung: its console printed nothing for ${silentMs / 1000} s after "${silentFor}"`,
        diagnosis,
      );
    if (timedOut)
      throw new VmError(
        `VM run timed out after ${opts.timeoutMs * LOAD_ALLOWANCE} ms (${LOAD_ALLOWANCE} × its ${opts.timeoutMs} ms on a quiet machine)`,
        diagnosis,
      );
    const begin = text.indexOf(`${BEGIN}\n`);
    const end = [...text.matchAll(EXIT)].pop(); // the last one: /init prints it after the script
    if (begin < 0 || !end || end.index < begin) {
      throw new VmError(
        `VM ended (qemu ${exit.signal ?? `exit ${exit.code}`}) without reporting the script's exit status`,
        diagnosis,
      );
    }
    if (options.outDir) await fsp.cp(path.join(runDir, 'io', 'out'), options.outDir, { recursive: true });
    await bringCoverageBack(runDir, opts.repo);
    return {
      exitCode: Number(end[1]),
      output: text.slice(begin + BEGIN.length + 1, end.index),
      seconds: (performance.now() - started) / 1000,
      bootSeconds: ((beganAt ?? performance.now()) - spawned) / 1000,
      console: text,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child?.once('close', resolve));
    }
    await fsp.rm(runDir, { recursive: true, force: true });
  }
}

/**
 * Runs a test file that prints TAP (test/vm/lane/vm-*-contract.ts) in the VM with `node`, bundled
 * here first (test/helpers/vm-bundle.ts; the tap runner, and tsx, are too slow under emulation),
 * and checks that it ran to the end with no failed assertion and at least `minPasses` passed
 * ones. Resolves its output.
 */
export async function vmTapFile(t: Test, file: string, options: VmOptions & { minPasses: number }): Promise<string> {
  const bundle = await bundleLaneFile(file);
  const run = await runInVm(`cd /repo && node ${bundle.inVm} 2>&1`, options).finally(bundle.remove);
  commentRun(t, run);
  const failures = run.output.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# (SKIP|TODO)/.test(line));
  const passes = run.output.split('\n').filter((line) => /^\s*ok /.test(line)).length;
  t.equal(run.exitCode, 0, `${file} ran in the VM and succeeded`, { output: run.output.slice(-4000) });
  t.same(failures, [], 'no failed assertion');
  t.ok(passes >= options.minPasses, `${passes} assertions passed inside the VM`);
  return run.output;
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').pop()?.trim().slice(0, 200) ?? '';
}

/** The run's wall time, and any boot that crashed and was retried, as TAP comments. */
export function commentRun(t: Test, run: VmResult): void {
  const waited = run.slotWaitSeconds >= 1 ? `, after ${run.slotWaitSeconds.toFixed(0)} s waiting for a VM slot` : '';
  t.comment(`VM run ${run.seconds.toFixed(1)} s${waited}`);
  for (const crash of run.bootRetries) t.comment(`a boot crashed before the script began and was retried: ${crash}`);
}

/** A script's `RESULT <name> <value>` lines, as text or parsed as JSON. */
export interface ResultLines {
  output: string;
  result: (name: string) => string;
  json: (name: string) => Record<string, any>;
}

/** Runs a shell script of this repository (test/vm/lane/vm-*-e2e.sh) in the VM, checks it succeeded, and reads its RESULT lines. */
export async function vmScript(t: Test, file: string, options: VmOptions): Promise<ResultLines> {
  await checkExecutable();
  const run = await runInVm(await fsp.readFile(path.join(REPO_ROOT, file), 'utf8'), options);
  commentRun(t, run);
  t.equal(run.exitCode, 0, `${file} succeeded`, { output: run.output.slice(-4000) });
  const result = (name: string): string => new RegExp(`^RESULT ${name} (.*)$`, 'm').exec(run.output)?.[1] ?? '';
  return { output: run.output, result, json: (name) => JSON.parse(result(name) || '{}') as Record<string, any> };
}

/**
 * The lane's scripts run qrv as shipped, the single executable dist/qrv (test/vm/lane/vm-lib.sh):
 * refused when it is missing or older than the build beside it, which would test old code.
 */
export async function checkExecutable(): Promise<void> {
  const mtime = (name: string) =>
    fsp.stat(path.join(REPO_ROOT, 'dist', name)).then(
      (st) => st.mtimeMs,
      () => null,
    );
  const [executable, bundle] = await Promise.all([mtime('qrv'), mtime('qrv.mjs')]);
  if (executable === null || (bundle !== null && executable < bundle))
    throw new Error(
      `dist/qrv is ${executable === null ? 'missing' : 'older than dist/qrv.mjs'}: the VM lane runs the single executable; build it with \`QRV_BUILD_PLAIN=1 node scripts/package.mjs\` (npm test does)`,
    );
}
