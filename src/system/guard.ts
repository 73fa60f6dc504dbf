// A guard: a detached node process that outlives qrv (even a SIGKILLed one) to undo what qrv
// must never leave behind — a frozen filesystem (freeze.ts), a mounted copy (browse). It watches
// its stdin: when qrv's end of the pipe closes, qrv is gone. Its program is guard-process.ts;
// it is started here, one way for both.
import path from 'node:path';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { QrvError, type ErrorCode } from '../core/errors.ts';
import { GUARD_ARGUMENT } from './guard-process.ts';

export interface GuardFailure {
  /** the error code when it cannot start, e.g. "freeze-guard" */
  code: ErrorCode;
  /** what it is called in the message, e.g. "freeze guard" */
  name: string;
  /** what was not done because of it, e.g. "nothing was frozen" */
  nothingDone: string;
}

export type GuardKind = 'freeze' | 'mount';

/** A running guard: its process, a promise of its end. */
export type Guard = ResultPromise;

/**
 * How to run the guard program: in the single executable (`npm run package`), the executable
 * itself with GUARD_ARGUMENT; built, it is dist/qrv-guard.mjs beside the bundle this module is
 * part of; from the sources (the tests that load src/ in-process), src/system/guard-main.ts
 * through tsx, from the repository (where tsx resolves).
 */
function guardCommand(): { args: string[]; cwd?: string } {
  if (isSea()) return { args: [GUARD_ARGUMENT] };
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { args: [fileURLToPath(new URL('./qrv-guard.mjs', here))] };
  const main = fileURLToPath(new URL('./guard-main.ts', here));
  return { args: ['--import', 'tsx', main], cwd: path.resolve(path.dirname(main), '..', '..') };
}

/**
 * Starts the `kind` guard detached with `env`; resolves once it printed that it is ready (within 10 s).
 * The process comes wrapped in an object: it is itself a promise (of its end), which an async
 * function's result would be awaited into.
 */
export async function startGuard(
  kind: GuardKind,
  env: Record<string, string>,
  failure: GuardFailure,
): Promise<{ guard: ResultPromise }> {
  const { args, cwd } = guardCommand();
  const guard = execa(process.execPath, args, {
    env: { ...env, QRV_GUARD: kind },
    cwd,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'ignore',
    detached: true,
    cleanup: false,
    reject: false,
  });
  guard.catch(() => undefined);
  const failed = (why: string) =>
    new QrvError(
      'environment',
      failure.code,
      `the ${failure.name} ${why}`,
      `check that node can run here; ${failure.nothingDone}`,
    );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(failed('did not start within 10 s')), 10_000);
    guard.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    void guard.then(() => {
      clearTimeout(timer);
      reject(failed('exited before it was ready'));
    });
  });
  guard.stdout?.destroy();
  guard.unref();
  return { guard };
}
