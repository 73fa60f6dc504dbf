// The one place a command's service is run: choose the printer once, open the catalog, run,
// print the summary or the one-line error, and set the exit status.
import type { Command } from 'commander';
import { Catalog } from '../catalog/store.ts';
import { resolveHome } from '../catalog/home.ts';
import { lockWaitMs } from '../catalog/lock.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, QrvError, isQrvError } from '../core/errors.ts';
import { checkFailpoints } from '../core/failpoints.ts';
import { Reporter } from '../core/events.ts';
import type { Context } from '../engine/context.ts';
import { chooseMode, type Summary } from '../output/printer.ts';
import { makePrinter } from './make-printer.ts';
import { guardOutput, writeErr } from '../output/closed-output.ts';

export interface GlobalOptions {
  home?: string;
  json?: boolean;
  debug?: boolean;
}

export function toQrvError(error: unknown): QrvError {
  if (isQrvError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new QrvError('bug', 'internal', `internal error: ${message}`, 'run again with --debug and report the output', {
    cause: error,
  });
}

/** Runs a service that needs only the reporter (qrv demo makes its own home). */
export async function executeWith(
  command: Command,
  service: (reporter: Reporter, globals: GlobalOptions) => Promise<Summary>,
): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  guardOutput(); // a reader that goes away (`| head -1`) never stops the work (main() did it already)
  const printer = await makePrinter(chooseMode(Boolean(globals.json)));
  const reporter = new Reporter();
  printer.attach(reporter);
  // Ctrl-C or a TERM from cron/systemd: say so in one line and stop at once. A job in progress
  // keeps the steps its row recorded, so `qrv show JOB` tells what was done and what remains.
  // The engine's modules are loaded by the services that use them (cli/lazy.ts): here they are
  // already loaded when there is a hook to kill or a job to mark, and the import only finds them.
  const onSignal = async (signal: NodeJS.Signals) => {
    const [{ killRunningHooks }, { activeJobs }] = await Promise.all([
      import('../engine/hooks.ts'),
      import('../engine/job-recorder.ts'),
    ]);
    killRunningHooks();
    const jobs = activeJobs();
    const marked = Promise.all(jobs.map((job) => job.interrupt(signal))).catch(() => undefined);
    void Promise.race([marked, sleep(5000)]).finally(() => {
      const ids = jobs.filter((job) => job.isWritten).map((job) => job.id);
      const what = ids.length
        ? `; job ${ids.join(', ')} is marked failed, \`qrv show ${ids[0]}\` lists the steps it finished`
        : jobs.length
          ? '; the job had changed nothing yet'
          : '';
      printer.error(
        new QrvError('interrupted', 'interrupted', `interrupted by ${signal}${what}`, 'run the command again'),
      );
      void printer.close().finally(() => process.exit(ExitCode.interrupted));
    });
  };
  // `on`, not `once`: signal-exit (used by execa and others) re-raises a signal when it
  // sees no listener but its own, which would kill qrv before this handler has marked the job.
  let handling = false;
  const handler = (signal: NodeJS.Signals) => {
    if (handling) return;
    handling = true;
    void onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    // A bad QRV_LOCK_WAIT_MS is refused before anything is done, not met halfway through a job.
    lockWaitMs(process.env);
    checkFailpoints();
    const summary = await service(reporter, globals);
    printer.summary(summary);
    if (summary.exit) process.exitCode = ExitCode[summary.exit];
  } catch (caught) {
    const error = toQrvError(caught);
    printer.error(error);
    if (globals.debug && caught instanceof Error) writeErr(`${caught.stack ?? caught.message}\n`);
    process.exitCode = error.exitCode;
  } finally {
    await printer.close();
  }
}

/** Runs a service against the catalog of the chosen home. */
export async function execute(command: Command, service: (ctx: Context) => Promise<Summary>): Promise<void> {
  await executeWith(command, async (reporter, globals) => {
    const catalog = await Catalog.open(resolveHome(globals.home));
    return service({ catalog, reporter, now: () => new Date() });
  });
}
