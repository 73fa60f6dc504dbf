// The VM lane's host side: can the lane run here (root, tools, a kernel with device-mapper
// modules), which kernels it can boot, and the kernel + initramfs pair each boot uses (built and
// cached by test/vm/build-initramfs.sh). test/helpers/vm.ts boots them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import type { Test } from 'tap';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_SCRIPT = path.join(REPO_ROOT, 'test/vm/build-initramfs.sh');

/** [program, package] of test/vm/host-packages.txt: the one list of what the lane needs on the host. */
const PROGRAMS: Array<[string, string]> = fs
  .readFileSync(path.join(REPO_ROOT, 'test/vm/host-packages.txt'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() && !line.startsWith('#'))
  .flatMap((line) => {
    const [pkg = '', ...programs] = line.trim().split(/\s+/);
    return programs.map((program): [string, string] => [program, pkg]);
  });

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
  const usable = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((version) => {
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
export function findKernel(): string | null {
  return vmKernels().at(-1) ?? null;
}

/** Why the VM lane cannot run here, or null when it can. Synchronous, for lane gating. */
export function vmBlocker(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `needs linux on x86-64 (this is ${process.platform}/${process.arch})`;
  if (process.getuid?.() !== 0) return 'needs root';
  const missing = PROGRAMS.filter(([program]) => !hasProgram(program));
  if (missing.length) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    return `missing tools: ${missing.map(([program]) => program).join(', ')} (apt-get install ${packages})`;
  }
  if (!findKernel()) return 'no kernel with device-mapper modules in /boot (apt-get install linux-image-amd64)';
  const devices = execaSync('qemu-system-x86_64', ['-device', 'help'], { reject: false });
  if (!/virtio-9p-pci/.test(devices.stdout + devices.stderr))
    return 'qemu-system-x86_64 has no virtio-9p (virtfs) support';
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
      if (result.exitCode !== 0)
        throw new Error(`test/vm/build-initramfs.sh failed (${result.exitCode}):\n${result.stderr}`);
      const dir = result.stdout.trim().split('\n').pop() ?? '';
      const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
      return { dir, kernel: read('kernel'), initramfs: path.join(dir, 'initramfs.cpio'), node: read('node') };
    })();
    images.set(kernel, image);
    image.catch(() => images.delete(kernel));
  }
  return image;
}
