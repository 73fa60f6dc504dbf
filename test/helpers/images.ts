// Real images for tests: ext4 built from a folder by mkfs.ext4 -d (no root), and checksums.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** An ext4 image of sizeMiB holding `files` (relative path → contents). */
export async function ext4Image(
  dir: string,
  name: string,
  sizeMiB: number,
  files: Record<string, string | Buffer>,
): Promise<string> {
  const tree = path.join(dir, `${name}.tree`);
  for (const [rel, contents] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
    await fs.writeFile(path.join(tree, rel), contents);
  }
  await fs.mkdir(tree, { recursive: true });
  const image = path.join(dir, `${name}.img`);
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, image, `${sizeMiB}M`]);
  return image;
}

export async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function e2fsckClean(image: string): Promise<{ clean: boolean; output: string }> {
  const result = await execa('e2fsck', ['-f', '-n', image], { reject: false });
  return { clean: result.exitCode === 0, output: `${result.stdout}${result.stderr}` };
}

/** Writes `bytes` over a file's contents at `offset` (the file keeps its size unless they run past it). */
export async function writeAt(file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}
