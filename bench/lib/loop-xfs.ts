// A real XFS filesystem with reflink on a loop device, for benchmarks that need FICLONE
// snapshots (root only). The image is a sparse file in bench/work; the loop device uses direct
// I/O (when the kernel allows it) so the image's blocks are not cached a second time by the host
// filesystem, as with a real disk. release() unmounts and detaches exactly what was set up.
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, ftruncateSync } from 'node:fs';

export interface LoopXfs {
  mountpoint: string;
  device: string;
  image: string;
  directIo: boolean;
  release(): void;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.error}): ${(result.stderr ?? '').trim()}`);
  return result.stdout.trim();
}

export function mountLoopXfs(image: string, mountpoint: string, sizeBytes: number): LoopXfs {
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
