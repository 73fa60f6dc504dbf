// A program held open beside qrv and asked one thing at a time over its standard input (a psql or
// sqlite3 session that must hold a lock or a backup for the length of a snapshot, F13): each
// request ends with a command that prints a mark, and its answer is what the program printed
// before the mark. The program ending, or saying nothing for `timeoutMs`, is an error that quotes
// the last line it wrote to standard error. Closing the session ends the program (and with it
// whatever it held: a lock, a backup in progress).
import { converse, type Conversation } from './tools.ts';

type Options = NonNullable<Parameters<typeof converse>[2]>;

export class SessionError extends Error {
  constructor(
    message: string,
    readonly reason: 'ended' | 'timeout' | 'failed',
  ) {
    super(message);
  }
}

export interface SessionSpec {
  /** what it is called in messages ("psql"): the program it runs may be runuser */
  name: string;
  program: string;
  args: string[];
  options?: Options;
  /** the command that makes the program print `mark` on a line of its own */
  markCommand: (mark: string) => string;
}

export class HeldSession {
  private readonly talk: Conversation;
  private buffered = '';
  private waiter: (() => void) | null = null;
  private ended: number | null | undefined = undefined;
  private count = 0;

  constructor(private readonly spec: SessionSpec) {
    this.talk = converse(spec.program, spec.args, spec.options ?? {});
    this.talk.stdout.setEncoding('utf8');
    this.talk.stdout.on('data', (text: string) => {
      this.buffered += text;
      this.waiter?.();
    });
    this.talk.stdin.on('error', () => undefined);
    this.talk.exited.then(
      (code) => {
        this.ended = code;
        this.waiter?.();
      },
      () => {
        this.ended = null;
        this.waiter?.();
      },
    );
  }

  /** Whether the program is still running (the lock or backup it holds is still held). */
  alive(): boolean {
    return this.ended === undefined;
  }

  /** Sends `text`, then waits for the mark: resolves with the lines printed before it. */
  async ask(text: string, timeoutMs: number): Promise<string[]> {
    const mark = `qrv-mark-${process.pid}-${++this.count}`;
    this.buffered = '';
    this.talk.stdin.write(`${text}\n${this.spec.markCommand(mark)}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.buffered.indexOf(`${mark}\n`);
      if (at >= 0) return this.buffered.slice(0, at).split('\n').filter(Boolean);
      if (this.ended !== undefined) throw await this.failure('ended');
      const left = deadline - Date.now();
      if (left <= 0) throw await this.failure('timeout', timeoutMs);
      await this.wait(left);
    }
  }

  /** Ends the program: its standard input is closed, and it is killed if it has not ended in `graceMs` (SIGTERM; SIGKILL after as long again). */
  async close(graceMs = 2000): Promise<void> {
    this.talk.stdin.end();
    if (this.ended !== undefined) return;
    // asked to end (SIGTERM) after graceMs, made to (SIGKILL) after as long again
    const term = setTimeout(() => this.talk.signal('SIGTERM'), graceMs);
    const kill = setTimeout(() => this.talk.signal('SIGKILL'), 2 * graceMs);
    await this.talk.exited.catch(() => undefined);
    clearTimeout(term);
    clearTimeout(kill);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.waiter = null;
        resolve();
      }
      this.waiter = done;
    });
  }

  private async failure(reason: 'ended' | 'timeout', timeoutMs = 0): Promise<SessionError> {
    if (reason === 'timeout') {
      this.talk.kill();
      return new SessionError(`${this.spec.name} did not answer within ${timeoutMs / 1000} s`, 'timeout');
    }
    await this.talk.drained;
    // the last message, with the lines that continue it (psql indents them: "\tIs the server running…?")
    const lines = this.talk.stderr().trim().split('\n');
    let at = lines.length - 1;
    while (at > 0 && /^\s/.test(lines[at] as string)) at -= 1;
    const said = lines
      .slice(at)
      .map((line) => line.trim())
      .filter(Boolean)
      .join(' ');
    return new SessionError(
      said ? `${this.spec.name}: ${said}` : `${this.spec.name} ended (status ${this.ended ?? 'killed'})`,
      said ? 'failed' : 'ended',
    );
  }
}
