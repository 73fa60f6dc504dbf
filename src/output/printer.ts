// What every printer does. A command's service emits events while it works and returns a
// Summary; the printer chosen once at start-up turns both into Ink, plain lines or JSON.
import type { ExitCodeName, QrvError } from '../core/errors.ts';
import type { QrvEvent, Reporter } from '../core/events.ts';
import { escapeControl } from '../core/text.ts';

export interface Summary {
  /** the machine-readable result: the JSON summary line's fields (camelCase rows) */
  data: Record<string, unknown>;
  /** the human-readable result, one entry a line */
  lines: string[];
  /** a non-zero exit status for a result that is not a plain success (e.g. 'partial') */
  exit?: ExitCodeName;
}

export interface Printer {
  attach(reporter: Reporter): void;
  summary(summary: Summary): void;
  error(error: QrvError): void;
  /** Waits until everything is written (Ink's last frame, stdout drained). */
  close(): Promise<void>;
}

export type OutputMode = 'ink' | 'plain' | 'json';

/** The variables by which Ink's is-in-ci decides that it runs in CI. */
export const CI_VARIABLES = ['CI', 'CONTINUOUS_INTEGRATION'] as const;

/** Whether the environment says CI, as Ink's is-in-ci reads it (set, and not "0" or "false"). */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return CI_VARIABLES.some((name) => env[name] !== undefined && env[name] !== '0' && env[name] !== 'false');
}

/**
 * Ink only on an updatable terminal: a TTY with TERM set and not "dumb", no --json, and not in
 * CI (there Ink draws only its last frame, at the end: plain lines are better for a CI log).
 */
export function chooseMode(
  json: boolean,
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): OutputMode {
  if (json) return 'json';
  if (stream.isTTY && env.TERM && env.TERM !== 'dumb' && !inCi(env)) return 'ink';
  return 'plain';
}

export type Write = (text: string) => void;

/** An event as one line (control characters in names, paths or hook output escaped), or null. */
export function describeEvent(event: QrvEvent): string | null {
  const line = eventText(event);
  return line === null ? null : escapeControl(line);
}

function eventText(event: QrvEvent): string | null {
  switch (event.type) {
    case 'step': {
      if (event.state === 'started') return null;
      const timing = event.ms !== undefined ? ` (${formatMs(event.ms)})` : '';
      const detail = event.detail ? `: ${event.detail}` : '';
      const state = event.state === 'done' ? '' : ` ${event.state}`;
      return `${event.phase}: ${event.step}${state}${detail}${timing}`;
    }
    case 'info':
      return event.message;
    case 'warning':
      return `warning: ${event.message}`;
    case 'progress':
      return null;
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The one line an error is printed as; a name or path with a newline in it cannot split it. */
export function errorLine(error: QrvError): string {
  return escapeControl(`qrv: ${error.message}${error.hint ? ` (${error.hint})` : ''}`);
}
