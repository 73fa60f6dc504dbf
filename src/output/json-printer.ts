// One JSON object per line with a message_type, as restic does: events as they happen, the
// result last as "summary"; an error is one "error" object on stderr.
import type { QrvError } from '../core/errors.ts';
import { writeErr, writeOut } from './closed-output.ts';
import type { Reporter } from '../core/events.ts';
import type { Printer, Summary, Write } from './printer.ts';

export class JsonPrinter implements Printer {
  constructor(
    private readonly out: Write = writeOut,
    private readonly err: Write = writeErr,
  ) {}

  attach(reporter: Reporter): void {
    reporter.subscribe((event) => {
      const { type, ...rest } = event;
      this.out(`${JSON.stringify({ message_type: type, ...rest })}\n`);
    });
  }

  summary(summary: Summary): void {
    this.out(`${JSON.stringify({ message_type: 'summary', ...summary.data })}\n`);
  }

  error(error: QrvError): void {
    this.err(
      `${JSON.stringify({ message_type: 'error', code: error.code, exitCode: error.exitCode, message: error.message, hint: error.hint ?? null })}\n`,
    );
  }

  async close(): Promise<void> {}
}
