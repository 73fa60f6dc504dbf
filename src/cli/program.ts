// qrv's command line: global options, one register() per command file (loaded only for the
// command that runs), and usage errors as one line with exit status 2. main.ts runs it;
// scripts/reference.ts writes the man page and the completions from it.
import { Command } from 'commander';
import { BUILD } from '../core/version.ts';
import { ExitCode } from '../core/errors.ts';
import { writeErr, writeOut } from '../output/closed-output.ts';
import { escapeControl } from '../core/text.ts';
import { pathValue } from './parse.ts';

type CommandFile = { register: (program: Command) => void };
type CommandEntry = {
  names: readonly string[];
  load: () => Promise<CommandFile>;
  /** its command reads every other command's definition (the shell completion is written from them) */
  needsAll?: true;
};

/**
 * The command files, in the order `qrv --help` lists their commands, each with the top-level
 * commands it registers: a run loads only the file of the command it runs, and commander builds
 * only that command (test/cli/program.test.ts checks each file registers exactly these names).
 * Help, completion, an unknown word and the man page load them all.
 */
export const COMMAND_FILES: readonly CommandEntry[] = [
  { names: ['volume'], load: () => import('./commands/volume.ts') },
  { names: ['snap', 'copy', 'unsnap', 'run'], load: () => import('./commands/jobs.ts') },
  { names: ['list', 'show', 'set', 'recover', 'promote'], load: () => import('./commands/catalog.ts') },
  { names: ['policy'], load: () => import('./commands/policy.ts') },
  { names: ['subclient'], load: () => import('./commands/subclient.ts') },
  { names: ['app'], load: () => import('./commands/app.ts') },
  { names: ['discover', 'prune', 'cron'], load: () => import('./commands/schedule.ts') },
  { names: ['pool'], load: () => import('./commands/pool.ts') },
  { names: ['store', 'archive'], load: () => import('./commands/store.ts') },
  { names: ['remove'], load: () => import('./commands/remove.ts') },
  { names: ['verify', 'doctor'], load: () => import('./commands/maintenance.ts') },
  { names: ['resolve', 'ls', 'find', 'browse'], load: () => import('./commands/browse.ts') },
  { names: ['history'], load: () => import('./commands/history.ts') },
  { names: ['check'], load: () => import('./commands/check.ts') },
  { names: ['demo'], load: () => import('./commands/demo.ts') },
  { names: ['completion'], load: () => import('./commands/completion.ts'), needsAll: true },
];

/** The first word of the command line that is not an option (nor --home's value): the command. */
export function commandWord(argv: readonly string[]): string | undefined {
  const words = argv.slice(2);
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i] as string;
    if (word === '--home') i += 1;
    else if (!word.startsWith('-')) return word;
  }
  return undefined;
}

/** Whether this invocation is `qrv check`, whose every error is Nagios UNKNOWN (exit 3). */
export function invokesCheck(argv: readonly string[]): boolean {
  return commandWord(argv) === 'check';
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

/** The command line; only the command `argv` runs, when it names one (all commands for help and the like). */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
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
  const word = commandWord(argv);
  const own = COMMAND_FILES.find((file) => word !== undefined && file.names.includes(word));
  for (const file of own && !own.needsAll ? [own] : COMMAND_FILES) (await file.load()).register(program);
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
