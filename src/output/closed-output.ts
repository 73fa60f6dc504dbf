// A reader that went away is not a reason to stop: `qrv run web | head -1` must still finish
// the job, and `qrv list | head -1` exit 0 without a word about EPIPE. Every write to stdout and
// stderr goes through here (the printers, Ink, commander's help, check): once a stream fails —
// EPIPE from a closed pipe, or anything else, say ENOSPC on the log cron appends to — it is
// marked closed and later writes to it are dropped; the work and its exit status go on as if
// it had been read. Node ignores SIGPIPE, so a closed pipe reaches qrv only as this error.
import { errnoCode } from '../core/errors.ts';

type Stream = NodeJS.WriteStream;

const closed = new WeakSet<Stream>();
const guarded = new WeakSet<Stream>();

function markClosed(stream: Stream, error: unknown, other: Stream): void {
  if (closed.has(stream)) return;
  closed.add(stream);
  // A full disk or a broken terminal is worth one line where it can still be read; a reader
  // that stopped reading (EPIPE) is not.
  const code = errnoCode(error);
  if (code !== 'EPIPE' && !closed.has(other))
    write(
      other,
      `qrv: cannot write to ${stream === process.stdout ? 'stdout' : 'stderr'} (${code ?? String(error)}); the command went on without it\n`,
    );
}

/** Installs the guard on stdout and stderr (once; later calls do nothing). */
export function guardOutput(out: Stream = process.stdout, err: Stream = process.stderr): void {
  for (const [stream, other] of [
    [out, err],
    [err, out],
  ] as const) {
    if (guarded.has(stream)) continue;
    guarded.add(stream);
    stream.on('error', (error) => markClosed(stream, error, other));
  }
}

/** Whether `stream` failed and what is written to it is dropped. */
export function isClosed(stream: Stream): boolean {
  return closed.has(stream) || stream.destroyed;
}

/** Writes `text` unless the stream is closed; never throws, never lets a write error escape. */
export function write(stream: Stream, text: string): void {
  if (isClosed(stream)) return;
  try {
    stream.write(text);
  } catch (error) {
    markClosed(stream, error, stream === process.stdout ? process.stderr : process.stdout);
  }
}

/** stdout and stderr as the printers' Write functions. */
export const writeOut = (text: string): void => write(process.stdout, text);
export const writeErr = (text: string): void => write(process.stderr, text);
