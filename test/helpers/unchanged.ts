// "Changes nothing", checked on the disk: the catalog file byte for byte and every folder's
// listing (names, kinds, sizes) before and after a refused command.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Test } from 'tap';

/** Every entry under `dir` (recursively) as "relative-path kind size", sorted; [] when dir is missing. */
export async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      const st = await fs.lstat(full);
      out.push(
        `${path.relative(dir, full)} ${entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'link' : 'file'} ${entry.isDirectory() ? '' : st.size}`,
      );
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/** What a check compares: the bytes of `catalog` and the listing of each folder in `dirs`. */
async function state(catalog: string, dirs: string[]): Promise<{ catalog: Buffer | null; dirs: string[][] }> {
  return { catalog: await fs.readFile(catalog).catch(() => null), dirs: await Promise.all(dirs.map(listing)) };
}

/** Runs `run` and asserts that `catalog` and every folder in `dirs` are as they were before. */
export async function unchangedBy<T>(
  t: Test,
  catalog: string,
  dirs: string[],
  run: () => Promise<T>,
  what = 'the command',
): Promise<T> {
  const before = await state(catalog, dirs);
  const result = await run();
  const after = await state(catalog, dirs);
  t.same(after.catalog, before.catalog, `${what}: catalog byte for byte unchanged`);
  dirs.forEach((dir, i) => t.same(after.dirs[i], before.dirs[i], `${what}: ${dir} listing unchanged`));
  return result;
}
