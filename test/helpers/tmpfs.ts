// A small tmpfs (root only) for tests that need a full filesystem (ENOSPC), unmounted in teardown.
import fs from 'node:fs/promises';
import { execa } from 'execa';

export async function mountTmpfs(
  t: { teardown: (fn: () => unknown) => void },
  mountpoint: string,
  sizeMiB: number,
): Promise<string> {
  await fs.mkdir(mountpoint, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', mountpoint]);
  t.teardown(() => execa('umount', [mountpoint], { reject: false }));
  return mountpoint;
}
