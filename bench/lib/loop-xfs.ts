// A real XFS filesystem with reflink on a loop device, for benchmarks that need FICLONE
// snapshots (root only). The image is a sparse file in bench/work; the loop device uses direct
// I/O (when the kernel allows it) so the image's blocks are not cached a second time by the host
// filesystem, as with a real disk. release() unmounts and detaches exactly what was set up;
// releaseUnder() clears what a bench killed earlier (even by SIGKILL) left mounted or attached.
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, ftruncateSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';

export interface LoopXfs {
  mountpoint: string;
  device: string;
  image: string;
  directIo: boolean;
  release(): void;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.error}): ${(result.stderr ?? '').trim()}`,
    );
  return result.stdout.trim();
}

/**
 * Unmounts every mount at or under one of `paths` (deepest first, each thawed first in case it
 * was left frozen) and detaches every loop device whose backing file is at or under one of them.
 * Returns what it released; nothing when nothing is left.
 */
export function releaseUnder(...paths: string[]): string[] {
  const roots = paths.map((p) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  });
  const within = (file: string): boolean => roots.some((root) => file === root || file.startsWith(`${root}/`));
  const released: string[] = [];
  const targets = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).stdout.split('\n').filter(within);
  for (const target of targets.sort((a, b) => b.length - a.length)) {
    spawnSync('fsfreeze', ['-u', target]);
    if (spawnSync('umount', [target]).status === 0) released.push(`unmounted ${target}`);
  }
  for (const line of spawnSync('losetup', ['--list', '--noheadings', '--raw', '-O', 'NAME,BACK-FILE'], {
    encoding: 'utf8',
  }).stdout.split('\n')) {
    const [name, ...rest] = line.split(' ');
    const file = rest.join(' ').replace(/ \(deleted\)$/, '');
    if (name && file && within(file) && spawnSync('losetup', ['-d', name]).status === 0)
      released.push(`detached ${name} (${file})`);
  }
  return released;
}

export function mountLoopXfs(image: string, mountpoint: string, sizeBytes: number): LoopXfs {
  // what an earlier run of this bench, killed, left of the same image and mountpoint
  for (const line of releaseUnder(mountpoint, image)) console.log(`left by an earlier run: ${line}`);
  const fd = openSync(image, 'w');
  try {
    ftruncateSync(fd, sizeBytes);
  } finally {
    closeSync(fd);
  }
  run('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]);
  const device = run('losetup', ['-f', '--show', image]);
  let mounted = false;
  const release = (): void => {
    if (mounted) spawnSync('umount', [mountpoint]);
    mounted = false;
    spawnSync('losetup', ['-d', device]);
  };
  try {
    const directIo = spawnSync('losetup', ['--direct-io=on', device]).status === 0;
    mkdirSync(mountpoint, { recursive: true });
    run('mount', [device, mountpoint]);
    mounted = true;
    return { mountpoint, device, image, directIo, release };
  } catch (error) {
    release();
    throw error;
  }
}
