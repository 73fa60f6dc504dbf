// Runs outside programs through execa with argument arrays (never a shell string), and turns
// "not installed" into one line that says which Debian package to install.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { execa, execaSync, type Options } from 'execa';
import { QrvError } from '../core/errors.ts';

/** The Debian package that ships each program qrv calls. */
const PACKAGES: Record<string, string> = {
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  losetup: 'util-linux',
  fsfreeze: 'util-linux',
  filefrag: 'e2fsprogs',
  lvm: 'lvm2',
  dmsetup: 'dmsetup',
  blockdev: 'util-linux',
  flock: 'util-linux',
  ssh: 'openssh-client',
};

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs `program args...`; resolves with its output whatever the exit status, unless it is missing. */
export async function tool(program: string, args: string[], options: Options = {}): Promise<ToolResult> {
  try {
    const result = await execa(program, args, {
      reject: false,
      ...(options.stdio ? {} : { stdin: 'ignore' as const }),
      ...options,
      env: { LC_ALL: 'C', ...options.env },
    });
    if (
      (result as { code?: string }).code === 'ENOENT' ||
      (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message)))
    )
      throw missing(program);
    return {
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      exitCode: result.exitCode ?? -1,
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing(program);
    throw error;
  }
}

/** tool() for a quick lookup that cannot wait for the event loop (getent): output and status, -1 when it could not run. */
export function toolSync(program: string, args: string[], timeoutMs = 5000): ToolResult {
  const result = execaSync(program, args, { reject: false, timeout: timeoutMs, stdin: 'ignore', env: { LC_ALL: 'C' } });
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? -1 };
}

/** Like tool(), but a non-zero exit is a QrvError that quotes the program's own last line. */
export async function toolOk(program: string, args: string[], options: Options = {}): Promise<ToolResult> {
  const result = await tool(program, args, options);
  if (result.exitCode !== 0) {
    const said = (result.stderr || result.stdout).trim().split('\n').pop() ?? '';
    throw new QrvError(
      'io',
      'tool-failed',
      `${program} ${args.join(' ')} failed with status ${result.exitCode}${said ? `: ${said}` : ''}`,
      'run the command by hand to see the whole output',
    );
  }
  return result;
}

/**
 * Throws missing-tool unless `program` is an executable in PATH (as execa would find it). Run
 * before a job's first write, so that a missing program changes nothing.
 */
export async function requireTool(program: string): Promise<void> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    if (
      await access(path.join(dir, program), constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  throw missing(program);
}

function missing(program: string): QrvError {
  const pkg = PACKAGES[program];
  return new QrvError(
    'environment',
    'missing-tool',
    `${program} is not installed`,
    pkg ? `install it with: apt-get install ${pkg}` : `install ${program}`,
  );
}

/** The one error for "must run as root": `who` says what needs it and why, e.g. "the lvm provider needs root (…)". */
export function notRoot(who: string): QrvError {
  return new QrvError('environment', 'not-root', who, 'run qrv as root (sudo)');
}

/** Throws notRoot(who) unless this process runs as root. */
export function requireRoot(who: string): void {
  if (process.getuid?.() !== 0) throw notRoot(who);
}

/** A program that runs beside qrv and talks over its standard input and output (ssh -s sftp). */
export interface Conversation {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** the last 64 KiB the program wrote to standard error */
  stderr(): string;
  /** its exit status once it ended (null: killed by a signal); rejects only when it is missing */
  exited: Promise<number | null>;
  /** resolves once the program's standard error has ended (all it said is in stderr()), or after 2 s */
  drained: Promise<void>;
  kill(): void;
  /** sends `signal` (a server's own shutdown modes: SIGINT, SIGQUIT; SIGKILL) */
  signal(signal: NodeJS.Signals): void;
}

/** Starts `program args...` with piped standard streams (an argument array, never a shell). */
export function converse(program: string, args: string[], options: Options = {}): Conversation {
  const child = execa(program, args, {
    ...options,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    env: { LC_ALL: 'C', ...options.env },
  });
  let said = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    said = (said + text).slice(-65536);
  });
  const exited = child.then((result) => {
    if ((result as { code?: string }).code === 'ENOENT') throw missing(program);
    return result.exitCode ?? null;
  });
  exited.catch(() => undefined);
  // its output can end, and its exit be seen, before the last of what it wrote to stderr arrives
  const drained = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    timer.unref();
    child.stderr?.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: () => said,
    exited,
    drained,
    kill: () => void child.kill('SIGTERM'),
    signal: (signal: NodeJS.Signals) => void child.kill(signal),
  };
}
