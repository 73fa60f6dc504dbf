// The man page qrv(1) and the shell completions (bash, zsh, fish), written from the commander
// definitions themselves (program.ts): every command, subcommand, argument and option is in them
// because it is in the program. `qrv completion SHELL` prints a completion; scripts/reference.ts
// writes all of them for the Debian package (scripts/package.mjs).
import type { Command, Option } from 'commander';
import { ExitCode, type ExitCodeName } from '../core/errors.ts';

/** A command as the references list it: its words after `qrv`, and what it takes. */
interface Entry {
  words: string[];
  command: Command;
  options: Option[];
  subcommands: string[];
}

function visible(command: Command): Command[] {
  return command.commands.filter((sub) => sub.name() !== 'help' && !(sub as unknown as { _hidden?: boolean })._hidden);
}

/** Every command and subcommand of the program, depth first, in the order of `qrv --help`. */
export function entries(program: Command, words: string[] = []): Entry[] {
  const help = program.createHelp();
  return visible(program).flatMap((command) => {
    const here = [...words, command.name()];
    const options = help.visibleOptions(command).filter((option) => option.long !== '--help');
    const subcommands = visible(command).map((sub) => sub.name());
    return [{ words: here, command, options, subcommands }, ...entries(command, here)];
  });
}

/** Options whose value is a file, folder or device: completed with file names. */
export function takesPath(option: Option): boolean {
  const value = /<([a-z-]+)(\.\.\.)?>/.exec(option.flags)?.[1] ?? '';
  return ['dir', 'dev', 'dest', 'destination', 'path', 'image', 'glob', 'file'].includes(value);
}

// ---- man page -------------------------------------------------------------------------------

/** Text for roff: backslashes and hyphens escaped, a line starting with . or ' protected. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

function optionItem(option: Option): string[] {
  const [names, value] = option.flags.split(/ (?=[<[])/);
  const term = `\\fB${roff(names ?? '')}\\fR${value ? ` \\fI${roff(value)}\\fR` : ''}`;
  const extra =
    option.defaultValue !== undefined && typeof option.defaultValue !== 'boolean'
      ? ` (default: ${String(option.defaultValue)})`
      : '';
  return ['.TP', term, roff(`${option.description}${extra}`)];
}

function commandSection(entry: Entry, program: Command): string[] {
  const help = program.createHelp();
  const usage = help.commandUsage(entry.command);
  const lines = [`.SS "${roff(usage.trimEnd().replace(/"/g, "'"))}"`, roff(entry.command.description())];
  for (const argument of entry.command.registeredArguments.filter((a) => a.description))
    lines.push('.TP', `\\fI${roff(argument.name())}\\fR`, roff(argument.description));
  for (const option of entry.options) lines.push(...optionItem(option));
  return lines;
}

const EXIT_MEANINGS = {
  ok: 'done (warnings do not change the status)',
  bug: 'an internal error: run again with --debug and report the output',
  usage: 'the command line is wrong: unknown command or option, missing argument, bad value',
  notFound: 'a volume, snapshot, QRV, job, policy, sub-client or pool named is not in the catalog',
  refused: 'qrv will not do it because it would be unsafe or make no sense; nothing was changed',
  catalog: 'the catalog cannot be used (corrupt, newer, unreadable, or writable by others); nothing ran',
  busy: 'something else is in the way right now (a lock held, a device in use); try again later',
  hook: 'a pre-snapshot or pre-copy hook failed, was killed or timed out; the job was aborted',
  io: 'a file or device could not be used, or an outside program failed',
  verify: 'data read back does not match what was written or recorded',
  environment: 'a program qrv needs is missing, or a guard process could not start',
  partial: 'some items failed and the rest were done (prune, cron, doctor, a sub-client run)',
  interrupted: 'SIGINT or SIGTERM arrived: hooks were killed, jobs marked failed',
} satisfies Record<ExitCodeName, string>;

const ENVIRONMENT: [string, string][] = [
  ['QRV_HOME', 'the home holding the catalog when --home is not given'],
  ['QRV_LOCK_WAIT_MS', 'how long to wait for the catalog lock, in milliseconds (0 to 86400000)'],
  ['QRV_FREEZE_GUARD_MS', 'the default longest freeze (--max-freeze), in milliseconds'],
  [
    'TMPDIR',
    'where qrv browse, ls and find make their read-only mounts (must not be writable by others unless sticky)',
  ],
  ['CI', 'when set (as CI services set it), progress is printed as plain lines even on a terminal'],
  ['TERM', 'unset or "dumb": plain lines instead of the drawn progress'],
];

const FILES: [string, string][] = [
  ['/var/lib/qrv', 'the home as root (~/.local/share/qrv for another user): catalog.json, history/, locks, ledgers'],
  ['/var/lib/qrv/catalog.json', 'the catalog: volumes, policies, snapshots, QRVs, live jobs'],
  ['/var/lib/qrv/history/', 'finished jobs, removed snapshots and prune results'],
];

function definitionList(pairs: [string, string][], term: (name: string) => string): string[] {
  return pairs.flatMap(([name, text]) => ['.TP', term(name), roff(text)]);
}

/** qrv(1) in roff (man(7)): synopsis, every command with its arguments and options, exit status, environment, files. */
export function manPage(program: Command, version: string, date: string): string {
  const global = program.createHelp().visibleOptions(program);
  return [
    `.TH QRV 1 "${date}" "qrv ${roff(version)}" "User Commands"`,
    '.SH NAME',
    `qrv \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    '.B qrv',
    '[\\fB\\-\\-home\\fR \\fIdir\\fR] [\\fB\\-\\-json\\fR] [\\fB\\-\\-debug\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    roff(
      'qrv snapshots volumes, copies the snapshots block for block to replicas on other disks (QRVs: plain images to mount or to put in place of the primary), and keeps both in one catalog. Policies say when to snapshot, how long to keep and where to copy; qrv cron, run every few minutes, carries them out. On a terminal qrv draws its progress; otherwise it prints plain lines, and with --json one JSON object per line. Every error is one line on stderr with a documented exit status.',
    ),
    '.SH GLOBAL OPTIONS',
    ...global.flatMap(optionItem),
    '.SH COMMANDS',
    ...entries(program).flatMap((entry) => commandSection(entry, program)),
    '.SH EXIT STATUS',
    ...definitionList(
      Object.entries(EXIT_MEANINGS).map(([name, text]) => [String(ExitCode[name as ExitCodeName]), `${name}: ${text}`]),
      (name) => `\\fB${name}\\fR`,
    ),
    '.SH ENVIRONMENT',
    ...definitionList(ENVIRONMENT, (name) => `\\fB${name}\\fR`),
    '.PP',
    roff('Hooks get the job in QRV_* variables of their own (see the hooks documentation).'),
    '.SH FILES',
    ...definitionList(FILES, (name) => `\\fI${roff(name)}\\fR`),
    '.SH SEE ALSO',
    '\\fBcron\\fR(8), \\fBsystemd.timer\\fR(5), \\fBlvm\\fR(8), \\fBdmsetup\\fR(8), \\fBfsfreeze\\fR(8)',
    '',
  ].join('\n');
}
