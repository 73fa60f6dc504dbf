// qrv resolve | ls | find | browse
import type { Command } from 'commander';
import { Catalog } from '../../catalog/store.ts';
import { resolveHome } from '../../catalog/home.ts';
import { QrvError } from '../../core/errors.ts';
import { errorLine } from '../../output/printer.ts';
import { terminalRefusal } from '../../ui/browse/tree.ts';
import { idKind } from '../../core/ids.ts';
import type { Via } from '../../browse/open.ts';
import { checkVia, splitTarget } from '../../services/arguments.ts';
import { lazy } from '../lazy.ts';
import { execute, toQrvError, type GlobalOptions } from '../execute.ts';

const find = lazy(async () => (await import('../../services/browse.ts')).find);
const ls = lazy(async () => (await import('../../services/browse.ts')).ls);
const resolve = lazy(async () => (await import('../../services/resolve.ts')).resolve);
const resolveObject = lazy(async () => (await import('../../services/resolve-object.ts')).resolveObject);

interface SourceOptions {
  volume?: string;
  asOf?: string;
  via?: string;
}

const source = (options: SourceOptions) => ({
  ...(options.volume !== undefined ? { volume: options.volume } : {}),
  ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
  ...(options.via !== undefined ? { via: options.via as Via } : {}),
});

const VOLUME = [
  '--volume <name>',
  'instead of an id: the copy of this volume `qrv resolve` chooses for --as-of',
] as const;
const AS_OF = [
  '--as-of <time>',
  'with --volume: the point in time (ISO, "2h ago", "yesterday 18:00"; default: now)',
] as const;
const VIA = [
  '--via <method>',
  'how to read: auto (root: read-only mount; otherwise debugfs), debugfs (ext2/3/4) or mount (root)',
] as const;

function registerResolve(program: Command): void {
  program
    .command('resolve <volume-subclient-or-object>')
    .description(
      'name the newest snapshot or QRV holding a volume (or the copies holding an application object, WRITER:OBJECT) as it was at a time, and why the others were passed over',
    )
    .requiredOption('--as-of <time>', 'the point in time (ISO time, "2h ago", "yesterday 18:00", "today 09:30")')
    .action((target: string, options: { asOf: string }, command: Command) =>
      execute(command, (ctx) =>
        target.includes(':')
          ? resolveObject(ctx, { object: target, asOf: options.asOf })
          : resolve(ctx, { target, asOf: options.asOf }),
      ),
    );
}

function registerLs(program: Command): void {
  program
    .command('ls [target]')
    .description('list the files in a snapshot or QRV without changing it: ID[:PATH], or --volume V --as-of T [PATH]')
    .option('-l, --long', 'mode, links, owner, group, size, time (UTC), name -> target, like ls -l')
    .option(...VOLUME)
    .option(...AS_OF)
    .option(...VIA)
    .action((target: string | undefined, options: SourceOptions & { long?: boolean }, command: Command) =>
      execute(command, (ctx) => {
        const long = Boolean(options.long);
        if (options.volume !== undefined) {
          const path = target === undefined ? '/' : splitTarget(`:${target.replace(/^:/, '')}`).path;
          return ls(ctx, { ...source(options), path, long });
        }
        if (target === undefined)
          throw new QrvError(
            'usage',
            'usage',
            'qrv ls needs a snapshot or QRV id (ID or ID:PATH), or --volume',
            'e.g. `qrv ls s-1a2b3c4d5e6f:/etc --long`',
          );
        const { id, path } = splitTarget(target);
        return ls(ctx, { ...source(options), id, path, long });
      }),
    );
}

function registerFind(program: Command): void {
  program
    .command('find <id-or-pattern> [patterns...]')
    .description(
      'find files in a snapshot or QRV by glob patterns (fast-glob syntax, from its root), without changing it',
    )
    .option('-l, --long', 'print like ls -l, with full paths')
    .option('--dot', 'let * and ** match names that start with "."')
    .option(...VOLUME)
    .option(...AS_OF)
    .option(...VIA)
    .action(
      (first: string, rest: string[], options: SourceOptions & { long?: boolean; dot?: boolean }, command: Command) =>
        execute(command, (ctx) => {
          const byVolume = options.volume !== undefined;
          if (!byVolume && !idKind(first))
            throw new QrvError(
              'usage',
              'usage',
              `"${first}" is not a snapshot or QRV id`,
              'give `qrv find ID PATTERN...` or `qrv find --volume V --as-of T PATTERN...`',
            );
          const patterns = byVolume ? [first, ...rest] : rest;
          return find(ctx, {
            ...source(options),
            ...(byVolume ? {} : { id: first }),
            patterns,
            long: Boolean(options.long),
            dot: Boolean(options.dot),
          });
        }),
    );
}

/** `qrv browse`: the terminal browser; a bad --via, or no terminal to draw on, is refused first, in one line. */
async function browseCommand(volume: string | undefined, options: { asOf?: string; via?: string }, command: Command) {
  const globals = command.optsWithGlobals<GlobalOptions>();
  let via: Via | undefined;
  try {
    via = checkVia(options.via); // a bad value is a usage error before any screen is drawn
  } catch (error) {
    return execute(command, async () => Promise.reject(error));
  }
  const refusal = terminalRefusal({
    json: Boolean(globals.json),
    stdinTTY: Boolean(process.stdin.isTTY),
    stdoutTTY: Boolean(process.stdout.isTTY),
    term: process.env.TERM,
  });
  if (refusal) return execute(command, async () => Promise.reject(refusal));
  // The browser draws the whole screen itself, so no printer is chosen; errors are one line, as everywhere.
  try {
    const catalog = await Catalog.open(resolveHome(globals.home));
    const { loadBrowser } = await import('../../ui/browse/load.ts');
    const { runBrowser } = await loadBrowser();
    await runBrowser({
      catalog,
      ...(volume !== undefined ? { volume } : {}),
      ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
      ...(via !== undefined ? { via } : {}),
    });
  } catch (caught) {
    const error = toQrvError(caught);
    process.stderr.write(`${errorLine(error)}\n`);
    if (globals.debug && caught instanceof Error) process.stderr.write(`${caught.stack ?? caught.message}\n`);
    process.exitCode = error.exitCode;
  }
}

function registerBrowse(program: Command): void {
  program
    .command('browse [volume]')
    .description(
      'browse hosts, sub-clients, volumes, application objects, snapshots and QRVs and the files in them, in a two-pane terminal view; recover files, change persistence, delete snapshots',
    )
    .option(
      '--as-of <time>',
      'with a volume: start at the copy `qrv resolve` chooses for this time ("2h ago", "yesterday 18:00", ISO)',
    )
    .option(...VIA)
    .action(browseCommand);
}

export function register(program: Command): void {
  registerResolve(program);
  registerLs(program);
  registerFind(program);
  registerBrowse(program);
}
