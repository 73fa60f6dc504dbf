// A real filesystem on a loop device, mounted in a temporary folder (root only): the host lane.
// Everything attached or mounted is detached in teardown, exactly what was attached.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { sparseFile } from './tmp.ts';

export interface LoopFs {
  mountpoint: string;
  device: string;
}

export async function mountLoopFs(
  t: { teardown: (fn: () => unknown) => void },
  dir: string,
  type: 'xfs' | 'ext4' | 'btrfs',
  sizeMiB: number,
): Promise<LoopFs> {
  const image = await sparseFile(path.join(dir, `${type}.fs.img`), sizeMiB * 1024 * 1024);
  const mountpoint = path.join(dir, `${type}.mnt`);
  await fs.mkdir(mountpoint);
  const mkfs =
    type === 'xfs'
      ? ['mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]]
      : type === 'btrfs'
        ? ['mkfs.btrfs', ['-q', '-f', image]]
        : ['mkfs.ext4', ['-q', '-F', image]];
  await execa(mkfs[0] as string, mkfs[1] as string[]);
  const device = (await execa('losetup', ['-f', '--show', image])).stdout.trim();
  t.teardown(async () => {
    // a process of the test that was just killed may hold a file there for a moment: try again
    for (let tries = 0; tries < 50; tries++) {
      const umount = await execa('umount', [mountpoint], { reject: false });
      if (umount.exitCode === 0 || !/busy/i.test(umount.stderr)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await execa('losetup', ['-d', device], { reject: false });
  });
  await execa('mount', [device, mountpoint]);
  return { mountpoint, device };
}
