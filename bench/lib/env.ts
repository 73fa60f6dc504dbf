// What every benchmark script starts with: where it is, and its whole-number settings from the
// environment (a bad value stops it with the variable's name).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ (here), the repository (root) and bench/work (scratch space, git-ignored). */
export function benchPaths(): { here: string; root: string; work: string } {
  const here = dirname(dirname(fileURLToPath(import.meta.url)));
  return { here, root: dirname(here), work: join(here, 'work') };
}

/** A whole number ≥ min from the environment variable `name`, or `fallback` when unset. */
export function wholeNumberEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${raw}`);
  return value;
}
