// Running root's qrv data as the unprivileged user `nobody` (uid 65534) in tests.
import path from 'node:path';
import { execa } from 'execa';

/**
 * Lets nobody read what a root test made under `dir` (qrv makes snapshots 0400: granted here by
 * hand) and gives nobody a home of its own, a copy of root's `home`: qrv refuses a home that
 * another user owns or can write, so nobody cannot share root's. Returns the copy's path.
 */
export async function nobodyHome(dir: string, home: string): Promise<string> {
  await execa('chmod', ['-R', 'a+rX', dir]);
  const copy = path.join(dir, 'home-nobody');
  await execa('cp', ['-a', home, copy]);
  await execa('chown', ['-R', '65534:65534', copy]);
  return copy;
}
