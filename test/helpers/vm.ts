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
// Host needs (Debian): qemu-system-x86 linux-image-amd64 busybox-static lvm2
// thin-provisioning-tools cpio kmod (+ e2fsprogs util-linux xz-utils, usually present), root.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import type { Test } from 'tap';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_SCRIPT = path.join(REPO_ROOT, 'test/vm/build-initramfs.sh');

/** The Debian packages the VM lane needs on the host, for messages and CI. */
export const VM_APT_PACKAGES = 'qemu-system-x86 linux-image-amd64 busybox-static lvm2 thin-provisioning-tools cpio kmod';

const BEGIN = '@@QRV-VM-BEGIN@@';
const EXIT = /^@@QRV-VM-EXIT (\d+)@@$/gm;

export interface VmOptions {
  /** Size of the sparse data disk /dev/vda (default 1024). */
  diskMiB?: number;
  /** Guest memory (default 1024). */
  memoryMiB?: number;
  /** Whole run, boot included; qemu is killed after it (default 120000). */
  timeoutMs?: number;
  /** Guest CPUs (default 2). */
  cpus?: number;
  /** Host folder that receives the files the script wrote into $QRV_VM_OUT. */
  outDir?: string;
  /** Host folder mounted read-only at /repo (default: this repository). */
  repo?: string;
  /** Print timestamps of the boot steps into the console log. */
  debug?: boolean;
  /** The kernel version to boot (one of vmKernels(); default: the newest). */
  kernel?: string;
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
}

export class VmError extends Error {
  constructor(
    message: string,
    readonly console: string,
  ) {
    super(`${message}\n--- VM console (last 4000 chars) ---\n${console.slice(-4000)}`);
    this.name = 'VmError';
  }
}

const PROGRAMS: Array<[string, string]> = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['busybox', 'busybox-static'],
  ['lvm', 'lvm2'],
  ['dmsetup', 'dmsetup'],
  ['pdata_tools', 'thin-provisioning-tools'],
  ['cpio', 'cpio'],
  ['modprobe', 'kmod'],
  ['depmod', 'kmod'],
  ['mke2fs', 'e2fsprogs'],
  ['fsfreeze', 'util-linux'],
  ['ldd', 'libc-bin'],
];

function hasProgram(name: string): boolean {
  // sbin too: a non-root PATH often lacks it, and build-initramfs.sh adds it
  return execaSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${name}`], { reject: false }).exitCode === 0;
}

/** The kernels in /boot whose modules include dm-thin-pool, oldest first (by version). */
export function vmKernels(): string[] {
  let names: string[];
  try {
    names = fs.readdirSync('/boot');
  } catch {
    return [];
  }
  const usable = names.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length)).filter((version) => {
    const md = `/lib/modules/${version}/kernel/drivers/md`;
    try {
      fs.accessSync(`/boot/vmlinuz-${version}`, fs.constants.R_OK);
    } catch {
      return false;
    }
    return ['', '.xz', '.zst', '.gz'].some((ext) => fs.existsSync(`${md}/dm-thin-pool.ko${ext}`));
  });
  return usable.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** The newest such kernel, or null. */
function findKernel(): string | null {
  return vmKernels().at(-1) ?? null;
}

/** Why the VM lane cannot run here, or null when it can. Synchronous, for lane gating. */
export function vmBlocker(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `needs linux on x86-64 (this is ${process.platform}/${process.arch})`;
  if (process.getuid?.() !== 0) return 'needs root';
  const missing = PROGRAMS.filter(([program]) => !hasProgram(program));
  if (missing.length) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    return `missing tools: ${missing.map(([program]) => program).join(', ')} (apt-get install ${packages})`;
  }
  if (!findKernel()) return 'no kernel with device-mapper modules in /boot (apt-get install linux-image-amd64)';
  const devices = execaSync('qemu-system-x86_64', ['-device', 'help'], { reject: false });
  if (!/virtio-9p-pci/.test(devices.stdout + devices.stderr)) return 'qemu-system-x86_64 has no virtio-9p (virtfs) support';
  return null;
}

/** True when the VM lane can run; otherwise skips (or fails in CI) with the reason and returns false. */
export function vmLane(t: Test, name = 'vm'): boolean {
  const blocker = vmBlocker();
  if (blocker === null) return true;
  const message = `${name} lane: ${blocker}`;
  if (process.env.CI === 'true') t.fail(`${message} (a skipped lane fails in CI)`);
  else t.skip(message, () => undefined);
  return false;
}

export interface VmImage {
  dir: string;
  kernel: string;
  initramfs: string;
  node: string;
}

const images = new Map<string, Promise<VmImage>>();

/** Builds (or finds in the cache) the kernel + initramfs pair; once per process and kernel. */
export function vmImage(kernel = findKernel() ?? ''): Promise<VmImage> {
  let image = images.get(kernel);
  if (!image) {
    image = (async () => {
      const result = await execa('bash', [BUILD_SCRIPT], {
        env: { QRV_VM_NODE: process.execPath, QRV_VM_QUIET: '1', ...(kernel ? { QRV_VM_KERNEL: kernel } : {}) },
        reject: false,
      });
      if (result.exitCode !== 0) throw new Error(`test/vm/build-initramfs.sh failed (${result.exitCode}):\n${result.stderr}`);
      const dir = result.stdout.trim().split('\n').pop() ?? '';
      const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
      return { dir, kernel: read('kernel'), initramfs: path.join(dir, 'initramfs.cpio'), node: read('node') };
    })();
    images.set(kernel, image);
    image.catch(() => images.delete(kernel));
  }
  return image;
}

const RUN_PREFIX = 'qrv-vm-run-';

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

function qemuArgs(image: VmImage, runDir: string, opts: Required<Pick<VmOptions, 'memoryMiB' | 'cpus' | 'timeoutMs' | 'repo' | 'debug'>>): string[] {
  const guestTimeout = Math.ceil(opts.timeoutMs / 1000) + 10; // the guest's own backstop, after the host's
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
  ].join(' ');
  const virtfs = (tag: string, dir: string, readonly: boolean) => ['-virtfs', `local,path=${dir.replace(/,/g, ',,')},mount_tag=${tag},security_model=none,id=${tag}${readonly ? ',readonly=on' : ''}`];
  const qboot = '/usr/share/qemu/qboot.rom';
  return [
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
    ...(fs.existsSync(qboot) ? ['-bios', qboot] : []),
    '-accel', process.env.QRV_VM_ACCEL ?? 'tcg,thread=multi',
    '-cpu', 'max',
    '-smp', String(opts.cpus),
    '-m', String(opts.memoryMiB),
    '-kernel', image.kernel,
    '-initrd', image.initramfs,
    '-append', append,
    '-drive', `file=${path.join(runDir, 'disk.img').replace(/,/g, ',,')},if=virtio,format=raw,cache=unsafe`,
    ...virtfs('qrvio', path.join(runDir, 'io'), false),
    ...virtfs('repo', opts.repo, true),
    ...virtfs('node', path.dirname(image.node), true),
    '-device', 'virtio-rng-pci',
  ];
}

/** Boots the VM, runs `script` as root inside (with /bin/sh unless it starts with #!), powers off. */
export async function runInVm(script: string, options: VmOptions = {}): Promise<VmResult> {
  const started = performance.now();
  const opts = {
    diskMiB: options.diskMiB ?? 1024,
    memoryMiB: options.memoryMiB ?? 1024,
    timeoutMs: options.timeoutMs ?? 120_000,
    cpus: options.cpus ?? 2,
    repo: options.repo ?? REPO_ROOT,
    debug: options.debug ?? false,
  };
  const image = await vmImage(options.kernel ?? findKernel() ?? '');
  await sweepRunDirs();
  const runDir = await fsp.mkdtemp(path.join(os.tmpdir(), `${RUN_PREFIX}${process.pid}-`));
  let child: ChildProcess | undefined;
  try {
    await fsp.mkdir(path.join(runDir, 'io', 'out'), { recursive: true });
    await fsp.writeFile(path.join(runDir, 'io', 'script'), script, { mode: 0o755 });
    const disk = await fsp.open(path.join(runDir, 'disk.img'), 'w');
    await disk.truncate(opts.diskMiB * 1024 * 1024);
    await disk.close();

    const remaining = opts.timeoutMs - (performance.now() - started);
    const spawned = performance.now();
    let consoleText = '';
    let stderr = '';
    let beganAt: number | undefined;
    let timedOut = false;
    // setpriv --pdeathsig: qemu gets SIGKILL if this process dies, even by a signal
    const [command, args] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...qemuArgs(image, runDir, opts)]] : ['qemu-system-x86_64', qemuArgs(image, runDir, opts)];
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    track(proc);
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      consoleText += chunk;
      if (beganAt === undefined && consoleText.includes(BEGIN)) beganAt = performance.now();
    });
    proc.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, Math.max(remaining, 1));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('close', (code, signal) => resolve({ code, signal }));
    }).finally(() => clearTimeout(timer));

    const text = consoleText.replace(/\r\n/g, '\n');
    const diagnosis = stderr.trim() ? `${text}\n--- qemu stderr ---\n${stderr}` : text;
    if (timedOut) throw new VmError(`VM run timed out after ${opts.timeoutMs} ms`, diagnosis);
    const begin = text.indexOf(`${BEGIN}\n`);
    const end = [...text.matchAll(EXIT)].pop(); // the last one: /init prints it after the script
    if (begin < 0 || !end || end.index < begin) {
      throw new VmError(`VM ended (qemu ${exit.signal ?? `exit ${exit.code}`}) without reporting the script's exit status`, diagnosis);
    }
    if (options.outDir) await fsp.cp(path.join(runDir, 'io', 'out'), options.outDir, { recursive: true });
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
 * Runs a test file that prints TAP (test/helpers/vm-*-contract.ts) in the VM with
 * `node --import tsx` (the tap runner is too slow under emulation) and checks that it ran to the
 * end with no failed assertion and at least `minPasses` passed ones. Resolves its output.
 */
export async function vmTapFile(t: Test, file: string, options: VmOptions & { minPasses: number }): Promise<string> {
  const run = await runInVm(`cd /repo && node --import tsx ${file} 2>&1`, options);
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  const failures = run.output.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# (SKIP|TODO)/.test(line));
  const passes = run.output.split('\n').filter((line) => /^\s*ok /.test(line)).length;
  t.equal(run.exitCode, 0, `${file} ran in the VM and succeeded`, { output: run.output.slice(-4000) });
  t.same(failures, [], 'no failed assertion');
  t.ok(passes >= options.minPasses, `${passes} assertions passed inside the VM`);
  return run.output;
}

/** A script's `RESULT <name> <value>` lines, as text or parsed as JSON. */
export interface ResultLines {
  output: string;
  result: (name: string) => string;
  json: (name: string) => Record<string, any>;
}

/** Runs a shell script of this repository (test/helpers/vm-*-e2e.sh) in the VM, checks it succeeded, and reads its RESULT lines. */
export async function vmScript(t: Test, file: string, options: VmOptions): Promise<ResultLines> {
  const run = await runInVm(await fsp.readFile(path.join(REPO_ROOT, file), 'utf8'), options);
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  t.equal(run.exitCode, 0, `${file} succeeded`, { output: run.output.slice(-4000) });
  const result = (name: string): string => new RegExp(`^RESULT ${name} (.*)$`, 'm').exec(run.output)?.[1] ?? '';
  return { output: run.output, result, json: (name) => JSON.parse(result(name) || '{}') as Record<string, any> };
}
