// Plain lines for cron, pipes and logs: no escape codes, one line per finished step, progress
// every tenth of the way (and at most one line per PROGRESS_EVERY_MS), warnings and errors on stderr.
import type { QrvError } from '../core/errors.ts';
import { writeErr, writeOut } from './closed-output.ts';
import type { QrvEvent, Reporter } from '../core/events.ts';
import { formatBytes, formatSeconds } from '../core/duration.ts';
import { escapeControl } from '../core/text.ts';
import { describeEvent, errorLine, type Printer, type Summary, type Write } from './printer.ts';

const PROGRESS_EVERY_MS = 10_000;

export function progressLine(event: Extract<QrvEvent, { type: 'progress' }>): string {
  const percent = event.bytesTotal > 0 ? Math.floor((event.bytesDone / event.bytesTotal) * 100) : 100;
  const eta = event.etaSeconds === null ? '' : `, ${formatSeconds(event.etaSeconds)} left`;
  return `${event.phase}: ${percent}% ${formatBytes(event.bytesDone)} of ${formatBytes(event.bytesTotal)}, ${(event.rate / 1e6).toFixed(0)} MB/s${eta}`;
}

export class PlainPrinter implements Printer {
  private lastDecile = -1;
  private lastAt = 0;

  constructor(
    private readonly out: Write = writeOut,
    private readonly err: Write = writeErr,
  ) {}

  attach(reporter: Reporter): void {
    reporter.subscribe((event) => this.onEvent(event));
  }

  private onEvent(event: QrvEvent): void {
    if (event.type === 'progress') {
      const decile = event.bytesTotal > 0 ? Math.floor((event.bytesDone / event.bytesTotal) * 10) : 10;
      const now = Date.now();
      const finished = event.bytesDone >= event.bytesTotal;
      if (
        decile > this.lastDecile &&
        (finished || now - this.lastAt >= PROGRESS_EVERY_MS || decile === 0 || this.lastDecile < 0)
      ) {
        this.out(`${progressLine(event)}\n`);
        this.lastAt = now;
        this.lastDecile = finished ? 10 : decile;
      }
      return;
    }
    if (event.type === 'step' && event.state === 'started') this.lastDecile = -1;
    const line = describeEvent(event);
    if (line === null) return;
    (event.type === 'warning' ? this.err : this.out)(`${line}\n`);
  }

  summary(summary: Summary): void {
    for (const line of summary.lines) this.out(`${escapeControl(line)}\n`);
  }

  error(error: QrvError): void {
    this.err(`${errorLine(error)}\n`);
  }

  async close(): Promise<void> {}
}
