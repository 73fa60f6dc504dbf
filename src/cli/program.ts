// qrv's command line: global options, one register() per command file, and usage errors as one
// line with exit status 2. main.ts runs it; scripts/reference.ts writes the man page and the
// completions from it.
import { Command } from 'commander';
import { BUILD } from '../core/version.ts';
import { ExitCode } from '../core/errors.ts';
import { writeErr, writeOut } from '../output/closed-output.ts';
import { escapeControl } from '../core/text.ts';
import { pathValue } from './parse.ts';
import { register as registerCatalog } from './commands/catalog.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerJobs } from './commands/jobs.ts';
import { register as registerVolume } from './commands/volume.ts';
import { register as registerPool } from './commands/pool.ts';
import { register as registerStore } from './commands/store.ts';
import { register as registerCheck } from './commands/check.ts';
import { register as registerRemove } from './commands/remove.ts';
import { register as registerPolicy } from './commands/policy.ts';
import { register as registerSubclient } from './commands/subclient.ts';
import { register as registerApp } from './commands/app.ts';
import { register as registerSchedule } from './commands/schedule.ts';
import { register as registerMaintenance } from './commands/maintenance.ts';
import { register as registerBrowse } from './commands/browse.ts';
import { register as registerHistory } from './commands/history.ts';
import { register as registerCompletion } from './commands/completion.ts';

/** Whether this invocation is `qrv check`, whose every error is Nagios UNKNOWN (exit 3). */
export function invokesCheck(argv: readonly string[]): boolean {
  const words = argv.slice(2);
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i] as string;
    if (word === '--home') i += 1;
    else if (!word.startsWith('-')) return word === 'check';
  }
  return false;
}

/** A usage error as one line (plain, or JSON with --json), like every other error. */
function usageLine(text: string, argv: readonly string[]): string {
  const message = escapeControl(
    text
      .replace(/^error: /, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim(),
  );
  if (invokesCheck(argv)) {
    return argv.includes('--json')
      ? `${JSON.stringify({ message_type: 'summary', status: 'UNKNOWN', exitCode: 3, message, problems: [], perfdata: [] })}\n`
      : `QRV UNKNOWN - ${message}\n`;
  }
  if (argv.includes('--json')) {
    return `${JSON.stringify({ message_type: 'error', code: 'usage', exitCode: ExitCode.usage, message, hint: 'see qrv --help' })}\n`;
  }
  return `qrv: ${message} (see qrv --help)\n`;
}

export function buildProgram(argv: readonly string[] = process.argv): Command {
  const program = new Command('qrv')
    .description('quick recovery volumes: snapshots and block-for-block replicas you can mount')
    .version(
      `${BUILD.version} (${BUILD.commit})`,
      '-V, --version',
      'print the version and the commit it was built from',
    )
    .option(
      '--home <dir>',
      'the qrv home holding the catalog (default: $QRV_HOME, /var/lib/qrv as root, ~/.local/share/qrv)',
      pathValue,
    )
    .option('--json', 'print one JSON object per line; the last is the summary')
    .option('--debug', 'print stack traces of internal errors')
    .showSuggestionAfterError(true)
    .configureOutput({
      // A monitoring agent reads a check's status from stdout; every other error goes to stderr.
      writeOut,
      writeErr,
      outputError: (text, write) =>
        invokesCheck(argv) ? writeOut(usageLine(text, argv)) : write(usageLine(text, argv)),
    });
  registerVolume(program);
  registerJobs(program);
  registerCatalog(program);
  registerPolicy(program);
  registerSubclient(program);
  registerApp(program);
  registerSchedule(program);
  registerPool(program);
  registerStore(program);
  registerRemove(program);
  registerMaintenance(program);
  registerBrowse(program);
  registerHistory(program);
  registerCheck(program);
  registerDemo(program);
  registerCompletion(program);
  // The command list shows names only: with each command's arguments in it (the longest is 44
  // characters) no description had room to wrap at 80 columns. `qrv help COMMAND` shows them.
  program
    .configureHelp({ subcommandTerm: (command) => command.name() })
    .addHelpText('after', '\nqrv help COMMAND (or qrv COMMAND --help) shows its arguments and options.');
  // Every subcommand reports usage errors the same way and takes the global options after it too.
  const configure = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}
