// Runs one measured child process and times it from the parent (wall time, start-up included).
import { spawnSync } from 'node:child_process';

export interface Spawned {
  ok: boolean;
  /** what failed, for the error message */
  detail: string;
  stdout: string;
  stderr: string;
  /** wall time of the whole process, seconds */
  seconds: number;
}

export function spawnTimed(command: string, args: string[]): Spawned {
  const started = process.hrtime.bigint();
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const detail = run.error
    ? String(run.error)
    : `${command} ${args.join(' ')} exited ${run.status ?? run.signal}: ${(run.stderr ?? '').trim()}`;
  return { ok: run.status === 0, detail, stdout: run.stdout ?? '', stderr: run.stderr ?? '', seconds };
}

/** The last line of a child's stdout, parsed as the JSON object it promised to print. */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}
