// The Ink printer: keeps a ViewState from the engine's events and re-renders ProgressView.
// Chosen only on an updatable terminal (src/output/printer.ts chooseMode).
import React from 'react';
import { render, type Instance } from 'ink';
import type { QrvError } from '../core/errors.ts';
import type { QrvEvent, Reporter } from '../core/events.ts';
import { writeErr, writeOut } from '../output/closed-output.ts';
import { describeEvent, errorLine, type Printer, type Summary } from '../output/printer.ts';
import { escapeControl } from '../core/text.ts';
import { ProgressView, type ViewState } from './progress-view.tsx';

/** Folds one event into the view state (pure, so it is tested without a terminal). */
export function reduce(state: ViewState, event: QrvEvent): ViewState {
  const key = state.lines.length;
  switch (event.type) {
    case 'step':
      if (event.state === 'started') return { ...state, current: `${event.phase}: ${event.step}`, progress: null };
      return {
        lines: [...state.lines, { key, text: describeEvent(event) ?? event.step, tone: event.state }],
        current: null,
        progress: null,
      };
    case 'progress':
      return { ...state, progress: event };
    case 'info':
      return { ...state, lines: [...state.lines, { key, text: escapeControl(event.message), tone: 'info' }] };
    case 'warning':
      return { ...state, lines: [...state.lines, { key, text: escapeControl(event.message), tone: 'warning' }] };
  }
}

export class InkPrinter implements Printer {
  private state: ViewState = { lines: [], current: null, progress: null };
  private instance: Instance | null = null;
  private lastRender = 0;

  attach(reporter: Reporter): void {
    this.instance = render(<ProgressView state={this.state} />, { exitOnCtrlC: false, patchConsole: false });
    reporter.subscribe((event) => {
      this.state = reduce(this.state, event);
      const now = Date.now();
      // Progress arrives often; redraw it at most ten times a second, everything else at once.
      if (event.type !== 'progress' || now - this.lastRender >= 100) {
        this.lastRender = now;
        this.instance?.rerender(<ProgressView state={this.state} />);
      }
    });
  }

  private pending: Array<() => void> = [];

  summary(summary: Summary): void {
    this.pending.push(() => {
      for (const line of summary.lines) writeOut(`${escapeControl(line)}\n`);
    });
  }

  error(error: QrvError): void {
    this.pending.push(() => writeErr(`${errorLine(error)}\n`));
  }

  /** Clears the live part, leaves the finished lines on screen, then prints the result. */
  async close(): Promise<void> {
    if (this.instance) {
      this.state = { ...this.state, current: null, progress: null };
      this.instance.rerender(<ProgressView state={this.state} />);
      this.instance.unmount();
      await this.instance.waitUntilExit();
      this.instance = null;
    }
    for (const write of this.pending.splice(0)) write();
  }
}
