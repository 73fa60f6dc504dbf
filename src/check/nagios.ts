// The Nagios plugin output of `qrv check`: one status line, `QRV <STATUS> - <text> | <perfdata>`,
// then one line per problem; or, with --json, one summary object. Exit status 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN (https://nagios-plugins.org/doc/guidelines.html).

export type Status = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export type Severity = 'warning' | 'critical';

export const STATUS_EXIT: Record<Status, 0 | 1 | 2 | 3> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export type CheckName = 'snapshot-schedule' | 'snapshot-age' | 'schedule' | 'qrv' | 'pool' | 'job' | 'doctor';

export interface Problem {
  severity: Severity;
  check: CheckName;
  /** the row it is about: a volume, QRV id, pool name, job id or policy name */
  subject: string;
  message: string;
}

/** One performance value. `warn` and `crit` are upper bounds in the plugin range form: alert above them. */
export interface PerfDatum {
  label: string;
  value: number;
  uom: '' | 's' | '%';
  warn: number | null;
  crit: number | null;
  min: number | null;
  max: number | null;
}

export interface CheckReport {
  status: Status;
  exitCode: 0 | 1 | 2 | 3;
  /** the status line's text after `QRV <STATUS> - ` */
  text: string;
  /** most severe first */
  problems: Problem[];
  perfdata: PerfDatum[];
  /** what was looked at (absent when the check could not run) */
  checked?: { volumes: number; scheduled: number; qrvs: number; pools: number; jobs: number };
  /** why the check could not run (UNKNOWN only) */
  error?: { code: string; message: string; hint: string | null };
}

/** A status line or problem line must stay one line, and `|` starts the perfdata. */
export function clean(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').replace(/\|/g, '/');
}

function label(text: string): string {
  const safe = text.replace(/=/g, '_');
  return /^[A-Za-z0-9._:@-]+$/.test(safe) ? safe : `'${safe.replace(/'/g, "''")}'`;
}

const num = (value: number | null) =>
  value === null ? '' : String(Number.isInteger(value) ? value : Number(value.toFixed(3)));

export function perfdataText(perfdata: PerfDatum[]): string {
  return perfdata
    .map((p) =>
      `${label(p.label)}=${num(p.value)}${p.uom};${num(p.warn)};${num(p.crit)};${num(p.min)};${num(p.max)}`.replace(
        /;+$/,
        '',
      ),
    )
    .join(' ');
}

/** The plugin output: the status line (with perfdata), then `CRITICAL: …` / `WARNING: …` per problem. */
export function nagiosText(report: CheckReport): string {
  const perf = report.perfdata.length ? ` | ${perfdataText(report.perfdata)}` : '';
  const lines = [
    `QRV ${report.status} - ${clean(report.text)}${perf}`,
    ...report.problems.map((p) => `${p.severity.toUpperCase()}: ${clean(p.message)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function jsonText(report: CheckReport): string {
  const { status, exitCode, text, problems, perfdata, checked, error } = report;
  return `${JSON.stringify({ message_type: 'summary', status, exitCode, message: text, problems, perfdata, ...(checked ? { checked } : {}), ...(error ? { error } : {}) })}\n`;
}

/** The report of a check that could not run: a bad option, a missing or corrupt catalog, a bug. */
export function unknownReport(error: { code: string; message: string; hint?: string | undefined }): CheckReport {
  return {
    status: 'UNKNOWN',
    exitCode: STATUS_EXIT.UNKNOWN,
    text: error.hint ? `${error.message} (${error.hint})` : error.message,
    problems: [],
    perfdata: [],
    error: { code: error.code, message: error.message, hint: error.hint ?? null },
  };
}
