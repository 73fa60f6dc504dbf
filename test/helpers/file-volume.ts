// A new home holding one file volume "vol" (a random image of `size` bytes), and where its QRV goes.
import path from 'node:path';
import type { Test } from 'tap';
import { randomImage } from './block-images.ts';
import { qrv } from './cli.ts';
import { tmpDir } from './tmp.ts';

export async function fileVolumeHome(t: Test, size: number, prefix = 'qrv-test-') {
  const dir = await tmpDir(t, prefix);
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  const content = await randomImage(image, size);
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image, content, dest: path.join(dir, 'vol.qrv') };
}
