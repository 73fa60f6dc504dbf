// Runs the real bin/qrv as a subprocess (built by `npm test` before tap runs).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'qrv');

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
  const command = [...wrapper, process.execPath, BIN, '--home', home, ...args];
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
