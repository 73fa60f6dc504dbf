// Image files for the incremental-copy tests: random content written in a few big writes, changes
// mirrored in memory, and which 64 KiB blocks differ between two versions.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Test } from 'tap';

export const MiB = 1024 * 1024;
/** qrv's block size: the unit of hashing, comparing and writing. */
export const BLOCK = 64 * 1024;

/** An image file of `size` random bytes, written in a few big writes; returns its content. */
export async function randomImage(file: string, size: number): Promise<Buffer> {
  const content = randomBytes(size);
  const handle = await fs.open(file, 'w');
  try {
    const piece = Math.ceil(size / 4);
    for (let at = 0; at < size; at += piece) await handle.write(content, at, Math.min(piece, size - at), at);
  } finally {
    await handle.close();
  }
  return content;
}

/** Changes `content` at `offset` (every byte XORed with 0x5a, so it surely differs) and writes the change into `file`. */
export async function change(file: string, content: Buffer, offset: number, length: number): Promise<void> {
  for (let i = offset; i < offset + length; i++) content[i] = (content[i] as number) ^ 0x5a;
  const handle = await fs.open(file, 'r+');
  try {
    await handle.write(content, offset, length, offset);
  } finally {
    await handle.close();
  }
}

/** Appends `bytes` random bytes to `file`; returns the grown content. */
export async function grow(file: string, content: Buffer, bytes: number): Promise<Buffer> {
  const tail = randomBytes(bytes);
  await fs.appendFile(file, tail);
  return Buffer.concat([content, tail]);
}

/** The 64 KiB blocks of `after` whose bytes differ from `before` (a block that changed length differs). */
export function differingBlocks(before: Buffer, after: Buffer): number[] {
  const out: number[] = [];
  for (let block = 0; block * BLOCK < after.length; block++) {
    const a = before.subarray(block * BLOCK, (block + 1) * BLOCK);
    const b = after.subarray(block * BLOCK, (block + 1) * BLOCK);
    if (!a.equals(b)) out.push(block);
  }
  return out;
}

export const bytesOf = (content: Buffer, blocks: number[]): number =>
  blocks.reduce((sum, block) => sum + Math.min(BLOCK, content.length - block * BLOCK), 0);

/** Whether `file` holds exactly `expected`, with where they first differ when not. */
export async function holds(t: Test, file: string, expected: Buffer, message: string): Promise<void> {
  const got = await fs.readFile(file);
  if (got.equals(expected)) return void t.pass(message);
  let at = 0;
  while (at < Math.min(got.length, expected.length) && got[at] === expected[at]) at++;
  t.fail(
    `${message}: ${got.length} bytes, expected ${expected.length}; first difference at byte ${at} (block ${Math.floor(at / BLOCK)})`,
  );
}
