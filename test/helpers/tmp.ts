// A temporary folder per test, removed when the test ends.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export async function tmpDir(t: { teardown: (fn: () => unknown) => void }, prefix = 'qrv-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A sparse file of `bytes` zeros (for mkfs), made or cut to that size; returns its path. */
export async function sparseFile(file: string, bytes: number): Promise<string> {
  await fs.writeFile(file, '');
  await fs.truncate(file, bytes);
  return file;
}

/** Points $TMPDIR (os.tmpdir()) at `dir` for the rest of the test. */
export function useTmpdir(t: { teardown: (fn: () => unknown) => void }, dir: string): void {
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  t.teardown(() => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  });
}
