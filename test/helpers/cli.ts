// Runs the real qrv as a subprocess (built by `npm test` before tap runs): the single executable
// dist/qrv as shipped, when it is there and not older than the build beside it (scripts/package.mjs
// after scripts/build.mjs, as `npm test` runs them); else bin/qrv. The executable starts with V8's
// code cache: 195 against 250 ms of CPU for a `qrv list`, and the tests start qrv thousands of
// times. QRV_TEST_BIN=1 runs bin/qrv always.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'qrv');
const EXECUTABLE = path.join(ROOT, 'dist', 'qrv');

/** The command that runs qrv: [dist/qrv], or [node, bin/qrv] when the executable is missing or stale. */
export function qrvCommand(): string[] {
  if (process.env.QRV_TEST_BIN !== '1') {
    const built = (file: string) => statSync(path.join(ROOT, 'dist', file), { throwIfNoEntry: false })?.mtimeMs;
    const executable = built('qrv');
    if (executable !== undefined && executable >= (built('qrv.mjs') ?? 0)) return [EXECUTABLE];
  }
  return [process.execPath, BIN];
}
const COMMAND = qrvCommand();

export interface QrvRun {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** `wrapper` runs it under another program, e.g. ['setpriv', '--reuid=65534', ...]. */
export async function qrv(
  home: string,
  args: string[],
  env: Record<string, string> = {},
  wrapper: string[] = [],
): Promise<QrvRun> {
  const command = [...wrapper, ...COMMAND, '--home', home, ...args];
  const result = await execa(command[0] as string, command.slice(1), {
    reject: false,
    env: { CI: '', ...env },
    stdin: 'ignore',
    timeout: 240_000,
  });
  return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? -1 };
}

/** Runs with --json and returns the summary object (the last line). */
export async function qrvJson(
  home: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ run: QrvRun; summary: Record<string, any>; lines: Record<string, any>[] }> {
  const run = await qrv(home, ['--json', ...args], env);
  const lines = run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>);
  const summary = lines.at(-1) ?? {};
  return { run, summary, lines };
}
