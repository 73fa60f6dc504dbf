// A catalog for the `qrv browse` tests, made through bin/qrv on a real ext4 image: volume web,
// snapshot s1 (hello.txt and etc/app.conf), `between` (a time after s1), hello.txt deleted, snapshot
// s2, and a QRV q1 copied from s1.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { Test } from 'tap';
import { qrv, qrvJson } from './cli.ts';
import { ext4Image } from './images.ts';
import { tmpDir } from './tmp.ts';

export interface BrowseScene {
  dir: string;
  home: string;
  image: string;
  s1: { id: string; createdAt: string };
  s2: { id: string; createdAt: string };
  q1: { id: string };
  /** a time after s1 and before hello.txt was deleted */
  between: string;
}

export async function browseScene(t: Test): Promise<BrowseScene> {
  const dir = await tmpDir(t, 'qb-');
  await fs.chmod(dir, 0o755);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 32, {
    'hello.txt': 'hello\n',
    'etc/app.conf': 'x = 1\n',
    'data/a.bin': Buffer.alloc(100_000, 1),
  });
  const added = await qrv(home, ['volume', 'add', 'web', '--path', image]);
  if (added.exitCode !== 0) throw new Error(added.stderr);
  const first = await qrvJson(home, ['snap', 'web', '--label', 'one']);
  if (first.run.exitCode !== 0) throw new Error(first.run.stderr);
  const s1 = first.summary.snapshot as BrowseScene['s1'];
  await sleep(1100);
  const between = new Date(Date.now() - 500).toISOString();
  await sleep(600);
  await execa('debugfs', ['-w', '-R', 'rm /hello.txt', image]);
  const second = await qrvJson(home, ['snap', 'web']);
  const s2 = second.summary.snapshot as BrowseScene['s2'];
  const copy = await qrvJson(home, ['copy', s1.id, '--to', path.join(dir, 'web.qrv.img')]);
  if (copy.run.exitCode !== 0) throw new Error(copy.run.stderr);
  const q1 = copy.summary.qrv as BrowseScene['q1'];
  return { dir, home, image, s1, s2, q1, between };
}
