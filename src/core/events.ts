// The engine's typed events. The engine emits them and never draws; the Ink, plain-text and
// JSON printers (src/ui/, src/output/) consume them and are interchangeable.

export type Phase = 'snapshot' | 'copy' | 'verify' | 'unsnap' | 'recover' | 'promote' | 'demo' | 'archive';

export type QrvEvent =
  /** A phase or step started or ended. `step` names the fine-grained step (e.g. "pre-snapshot hook"). */
  | {
      type: 'step';
      phase: Phase;
      step: string;
      state: 'started' | 'done' | 'failed' | 'skipped';
      detail?: string;
      ms?: number;
    }
  /** Progress of long work (copy, verify, recover). Emitted at most a few times a second. */
  | {
      type: 'progress';
      phase: Phase;
      bytesDone: number;
      bytesTotal: number;
      /** bytes per second, averaged since the start of this phase */
      rate: number;
      /** seconds left at the current rate, or null while unknown */
      etaSeconds: number | null;
    }
  | { type: 'info'; message: string }
  | { type: 'warning'; message: string };

export type Listener = (event: QrvEvent) => void;

/** The one place events go; printers subscribe. */
export class Reporter {
  private readonly listeners: Listener[] = [];

  subscribe(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  emit(event: QrvEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  info(message: string): void {
    this.emit({ type: 'info', message });
  }

  warn(message: string): void {
    this.emit({ type: 'warning', message });
  }
}

/** Turns byte counts into throttled progress events with rate and time left. */
export class ProgressMeter {
  private readonly started = process.hrtime.bigint();
  private lastEmit = 0;

  constructor(
    private readonly reporter: Reporter,
    private readonly phase: Phase,
    private readonly bytesTotal: number,
    private readonly intervalMs = 200,
  ) {}

  update(bytesDone: number, force = false): void {
    const elapsedMs = Number(process.hrtime.bigint() - this.started) / 1e6;
    if (!force && elapsedMs - this.lastEmit < this.intervalMs) return;
    this.lastEmit = elapsedMs;
    const rate = elapsedMs > 0 ? (bytesDone * 1000) / elapsedMs : 0;
    const etaSeconds = rate > 0 ? Math.max(0, (this.bytesTotal - bytesDone) / rate) : null;
    this.reporter.emit({
      type: 'progress',
      phase: this.phase,
      bytesDone,
      bytesTotal: this.bytesTotal,
      rate,
      etaSeconds,
    });
  }

  finish(bytesDone: number): void {
    this.update(bytesDone, true);
  }
}
