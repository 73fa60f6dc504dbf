// Assertions the CLI and service tests share: a refusal changes nothing.
import fs from 'node:fs/promises';
import type { Test } from 'tap';
import { QrvError } from '../../src/core/errors.ts';

/** A failed command: its exit code, exactly one line on stderr matching `pattern`, the catalog byte for byte unchanged. */
export async function failsCleanly(
  t: Test,
  catalog: string,
  run: () => Promise<{ exitCode: number; stderr: string }>,
  exitCode: number,
  pattern: RegExp,
): Promise<void> {
  const before = await fs.readFile(catalog);
  const result = await run();
  t.equal(result.exitCode, exitCode, `exit code ${exitCode}`);
  const lines = result.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
  t.match(lines[0], pattern);
  t.same(await fs.readFile(catalog), before, 'catalog byte-identical');
}

/** A refused service call: this QrvError, and catalog.json byte-identical. */
export async function refused(
  t: Test,
  file: string,
  run: () => Promise<unknown>,
  exit: string,
  code: string,
  message: RegExp,
): Promise<void> {
  const before = await fs.readFile(file);
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  t.ok(error instanceof QrvError, `a QrvError (got ${String(error)})`);
  t.match(error, { exit, code, message });
  t.same(await fs.readFile(file), before, `${code}: catalog byte-identical`);
}
