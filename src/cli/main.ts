// The program qrv runs: the command line of program.ts, parsed once; usage errors end with exit
// status 2 (3 for qrv check), everything else through execute.ts.
import { isSea } from 'node:sea';
import { CommanderError } from 'commander';
import { ExitCode } from '../core/errors.ts';
import { guardOutput } from '../output/closed-output.ts';
import { GUARD_ARGUMENT, guardMain } from '../system/guard-process.ts';
import { buildProgram, invokesCheck } from './program.ts';

export async function main(argv: string[]): Promise<void> {
  guardOutput(); // before the first write: help, usage errors and check's status line too
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : invokesCheck(argv) ? 3 : ExitCode.usage;
      return;
    }
    throw error;
  }
}

/**
 * The single executable is also its own guard program (system/guard.ts); the bundle has the
 * guard's own file beside it. No top-level await: the single executable is a CommonJS bundle.
 */
function start(): void {
  if (isSea() && process.argv[2] === GUARD_ARGUMENT && process.env.QRV_GUARD) guardMain(process.env);
  else void main(process.argv);
}

start();
