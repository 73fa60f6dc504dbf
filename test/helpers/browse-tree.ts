// A known tree for the browse tests, built in a host folder and put into real images: ext4 by
// mkfs.ext4 -d (no root), XFS by a root-only rw mount and cp -a. Names with spaces, non-UTF-8
// bytes, a newline, 255 bytes; symlinks (short, long, dangling, to a folder); empty files and
// folders; a big sparse file; a hard link; a setuid file.
import { Buffer } from 'node:buffer';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { sparseFile } from './tmp.ts';

export const BAD_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]); // "bad\xff\xfe.txt"
export const LONG_NAME = `${'n'.repeat(251)}.txt`;
export const LONG_TARGET = `/very/long/${'x'.repeat(100)}/target`;

export async function makeTree(dir: string): Promise<string> {
  const tree = path.join(dir, 'tree');
  const file = async (rel: string, content: string | Buffer = '') => {
    await fs.mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
    await fs.writeFile(path.join(tree, rel), content);
  };
  await file('etc/app.conf', 'x = 1\n');
  await file('etc/ssh/sshd_config', 'Port 22\n');
  await file('etc/.hidden.conf', 'secret\n');
  await file('dir with space/file with  two spaces.txt', 'two\n');
  await file('data/a.bin', Buffer.alloc(300_000, 7));
  await file('data/empty.txt');
  await file(LONG_NAME, 'long\n');
  await file('new\nline', 'nl\n');
  await file('ünïcødé.conf', 'u\n');
  await fs.mkdir(path.join(tree, 'empty'), { recursive: true });
  await fs.writeFile(Buffer.concat([Buffer.from(`${tree}/`), BAD_NAME]), 'bad\n');
  const sparse = await fs.open(path.join(tree, 'data/sparse.bin'), 'w');
  await sparse.truncate(2 ** 30);
  await sparse.write(Buffer.from('end'), 0, 3, 2 ** 30 - 3);
  await sparse.close();
  await fs.symlink('etc/app.conf', path.join(tree, 'link'));
  await fs.symlink('etc', path.join(tree, 'etc-link'));
  await fs.symlink('/nonexistent target', path.join(tree, 'dangling'));
  await fs.symlink(LONG_TARGET, path.join(tree, 'longlink'));
  await fs.link(path.join(tree, 'etc/app.conf'), path.join(tree, 'data/hardlink.conf'));
  await fs.chmod(path.join(tree, 'data/a.bin'), 0o4755);
  await fs.utimes(path.join(tree, 'etc/app.conf'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
  return tree;
}

export async function ext4FromTree(dir: string, tree: string, name = 'fs'): Promise<string> {
  const image = path.join(dir, `${name}.ext4.img`);
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, image, '64M']);
  return image;
}

/** Root only: an XFS image holding a copy of the tree (mounted read-write once to fill it). */
export async function xfsFromTree(dir: string, tree: string): Promise<string> {
  const image = await sparseFile(path.join(dir, 'fs.xfs.img'), 320 * 2 ** 20);
  await execa('mkfs.xfs', ['-q', '-f', image]);
  const mnt = path.join(dir, 'xfs-fill');
  await fs.mkdir(mnt);
  await execa('mount', ['-o', 'loop', image, mnt]);
  try {
    await execa('cp', ['-a', `${tree}/.`, mnt]);
  } finally {
    await execa('umount', [mnt]);
  }
  return image;
}

/** A btrfs image holding the tree (mkfs.btrfs --rootdir: no root needed to make it). */
export async function btrfsFromTree(dir: string, tree: string): Promise<string> {
  const image = await sparseFile(path.join(dir, 'fs.btrfs.img'), 256 * 2 ** 20);
  await execa('mkfs.btrfs', ['-q', '-f', '--rootdir', tree, image]);
  return image;
}

/**
 * Each test file that looks at browse mounts gets a TMPDIR of its own, which the qrv processes it
 * runs inherit: qrv makes its read-only mounts there, so the file sees only its own mounts while
 * tap runs another file beside it. World-writable and sticky like /tmp, for the runs as nobody.
 */
export const OWN_TMPDIR = mkdtempSync(path.join(os.tmpdir(), 'qt-'));
chmodSync(OWN_TMPDIR, 0o1777);
process.env.TMPDIR = OWN_TMPDIR;
process.on('exit', () => {
  try {
    rmSync(OWN_TMPDIR, { recursive: true, force: true });
  } catch {
    // something still mounted in it (a failed test): leave it
  }
});

/** Every qrv read-only mount (qrv-browse-*) under this file's TMPDIR (there should be none after a reader closed). */
export async function browseMounts(): Promise<string[]> {
  const mine = path.join(OWN_TMPDIR, 'qrv-browse-');
  return (await fs.readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .filter((line) => line.split(' ')[1]?.startsWith(mine));
}

/**
 * A hostile tree for file-level recovery: absolute symlinks (to a file and to "/"), a symlink
 * loop, a symlink climbing out of any target with "..", a char device and a fifo (root only: they
 * need mknod), a 255-byte name, a name that is not UTF-8, a read-only folder, a setuid file, a
 * file owned by someone else (root only), a hard link, exact times.
 */
export const HOSTILE_TIME = new Date('2021-03-04T05:06:07Z');
export const ESCAPE_TARGET = '../../../../../../../../../../tmp/qrv-escaped';

export async function makeHostileTree(dir: string): Promise<string> {
  const tree = path.join(dir, 'hostile');
  const root = process.getuid?.() === 0;
  const file = async (rel: string, content: string | Buffer = '') => {
    await fs.mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
    await fs.writeFile(path.join(tree, rel), content);
    await fs.utimes(path.join(tree, rel), HOSTILE_TIME, HOSTILE_TIME);
  };
  await file('sub/deep/file.txt', 'deep\n');
  await file('sub/big.bin', Buffer.alloc(3 * 2 ** 20, 0x5a));
  await file('sub/setuid', '#!/bin/sh\n');
  await fs.chmod(path.join(tree, 'sub/setuid'), 0o4750);
  await fs.link(path.join(tree, 'sub/deep/file.txt'), path.join(tree, 'sub/hardlink.txt'));
  await file(LONG_NAME, 'long\n');
  await fs.writeFile(Buffer.concat([Buffer.from(`${tree}/`), BAD_NAME]), 'bad\n');
  await file('ro/inside.txt', 'inside\n');
  await fs.chmod(path.join(tree, 'ro'), 0o555);
  await fs.symlink('/etc/passwd', path.join(tree, 'abs'));
  await fs.symlink('/', path.join(tree, 'rootlink'));
  await fs.symlink('loop2', path.join(tree, 'loop1'));
  await fs.symlink('loop1', path.join(tree, 'loop2'));
  await fs.symlink(ESCAPE_TARGET, path.join(tree, 'escape'));
  await fs.mkdir(path.join(tree, 'dev'));
  if (root) {
    await execa('mknod', [path.join(tree, 'dev/null'), 'c', '1', '3']);
    await execa('mkfifo', [path.join(tree, 'dev/fifo')]);
    await file('owned', 'theirs\n');
    await fs.chown(path.join(tree, 'owned'), 1234, 5678);
  }
  for (const rel of ['sub/deep', 'sub', 'dev']) await fs.utimes(path.join(tree, rel), HOSTILE_TIME, HOSTILE_TIME);
  return tree;
}
