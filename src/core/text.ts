// Text qrv did not write (names, paths, hook output, messages of other programs) on its way to a
// terminal or a log: every error and warning is one line, and nothing in it can move the cursor,
// change colours or retitle the window.

/** C0 controls (tab too), DEL and the C1 controls that some terminals obey. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** ANSI escape sequences: CSI (colours, cursor moves), OSC (titles, links) and two-byte escapes. */
const SEQUENCE = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One printable line: each control character becomes a visible escape (\n, \r, \t, \xNN). */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Whether a name or label holds a control character (refused: it could not be printed as given). */
export function hasControl(text: string): boolean {
  return /[\u0000-\u001f\u007f-\u009f]/.test(text);
}

/**
 * A line of a program's output, shown as text: escape sequences removed (a hook's colours are
 * dropped, not shown as codes), a carriage-return progress line reduced to what it ended with,
 * and any other control character escaped.
 */
export function programLine(line: string): string {
  const plain = line.replace(SEQUENCE, '');
  const last = plain.replace(/\r+$/, '').split('\r').at(-1) ?? '';
  return escapeControl(last);
}

/**
 * Orders two strings by their UTF-16 code units, the same on every machine whatever its locale:
 * for timestamps, ids and names that qrv sorts. Not localeCompare: its first call builds ICU's
 * collator, 7 ms of every qrv start here and ~0.15 s in the emulated VM lane (measured), for an
 * order that depends on the locale.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
