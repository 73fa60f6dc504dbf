// qrv check: a monitoring check in the Nagios plugin format. Unlike every other command it does
// not go through execute(): whatever goes wrong (a bad option, a missing or corrupt catalog, a
// bug) is still one status line on stdout, `QRV UNKNOWN - …`, with exit status 3, as monitoring
// systems expect of a plugin.
import { writeSync } from 'node:fs';
import { Command, type ErrorOptions } from 'commander';
import { resolveHome } from '../../catalog/home.ts';
import { isQrvError } from '../../core/errors.ts';
import { STATUS_EXIT, jsonText, nagiosText, unknownReport, type CheckReport } from '../../check/nagios.ts';
import { parseThresholds, type CheckOptionValues } from '../../check/thresholds.ts';
import { writeErr, writeOut } from '../../output/closed-output.ts';
import { lazy } from '../lazy.ts';
import { toQrvError, type GlobalOptions } from '../execute.ts';

const check = lazy(async () => (await import('../../services/check.ts')).check);

const HELP = `
Prints one status line, "QRV OK|WARNING|CRITICAL|UNKNOWN - <text> | <perfdata>",
then a line per problem; with --json one summary object instead. Reads the
catalog only (no lock, no change).

Problems:
  snapshots  a volume with a schedule (its own policy's, else its sub-clients'
             policies') whose newest snapshot (ready or since removed) has
             --snap-warn/--snap-crit scheduled run times after it; with
             --max-snap-age, any volume whose newest snapshot (or, without
             one, its addition) is older than that
  QRVs       last updated longer ago than --qrv-warn/--qrv-crit; in state
             failed: CRITICAL
  pools      --pool-warn/--pool-crit percent of the capacity reserved; no free
             member: WARNING
  jobs       failed within --failed-window and not followed by a successful
             job of the same kind and volume: CRITICAL

Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad option, catalog
missing, unreadable or corrupt). The catalog is $QRV_HOME/catalog.json or
--home; a monitoring agent that runs as another user needs --home (and read
access).
`;

/** Parser errors (unknown option, missing value, extra argument) are UNKNOWN too, exit 3. */
class CheckCommand extends Command {
  override error(message: string, _errorOptions?: ErrorOptions): never {
    const text = message
      .replace(/^error: /, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    const report = unknownReport({ code: 'usage', message: text, hint: 'see qrv check --help' });
    try {
      writeSync(1, this.optsWithGlobals<GlobalOptions>().json ? jsonText(report) : nagiosText(report));
    } catch {
      // nobody reads stdout (a closed pipe): the status is still the exit status
    }
    process.exit(STATUS_EXIT.UNKNOWN);
  }
}

async function run(options: CheckOptionValues, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  let report: CheckReport;
  try {
    report = await check({ home: resolveHome(globals.home), now: new Date(), thresholds: parseThresholds(options) });
  } catch (caught) {
    if (globals.debug && caught instanceof Error && !isQrvError(caught))
      writeErr(`${caught.stack ?? caught.message}\n`);
    report = unknownReport(toQrvError(caught));
  }
  writeOut(globals.json ? jsonText(report) : nagiosText(report));
  process.exitCode = report.exitCode;
}

export function register(program: Command): void {
  const command = new CheckCommand('check')
    .copyInheritedSettings(program)
    .description('monitoring check (Nagios plugin): overdue snapshots, lagging or failed QRVs, full pools, failed jobs')
    .option(
      '--snap-warn <n>',
      'WARNING when n or more scheduled snapshot runs passed since the newest snapshot (default: 2)',
    )
    .option('--snap-crit <n>', 'CRITICAL when n or more passed (default: 4)')
    .option(
      '--max-snap-age <duration>',
      "WARNING when any volume's newest snapshot is older, schedule or not (default: not checked)",
    )
    .option('--max-snap-age-crit <duration>', 'CRITICAL when older (default: not checked)')
    .option('--qrv-warn <duration>', 'WARNING when a QRV was last updated longer ago (default: 2d)')
    .option('--qrv-crit <duration>', 'CRITICAL when longer ago (default: 7d)')
    .option('--pool-warn <percent>', "WARNING when this much of a pool's capacity is reserved (default: 80%)")
    .option('--pool-crit <percent>', 'CRITICAL at this much (default: 95%)')
    .option(
      '--failed-window <duration>',
      'CRITICAL for a job that failed this recently, unless a later one of its kind and volume succeeded (default: 24h)',
    )
    .addHelpText('after', HELP)
    .action(run);
  program.addCommand(command);
}
