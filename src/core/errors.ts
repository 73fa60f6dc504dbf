// One error type for everything the user can act on: a code, an exit status, one line that
// says what is wrong, and a hint that says what to do. Anything else that escapes is a bug.

/** Documented exit statuses (docs/exit-codes.md). Scripts rely on these numbers. */
export const ExitCode = {
  ok: 0,
  bug: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  catalog: 5,
  busy: 6,
  hook: 7,
  io: 8,
  verify: 9,
  environment: 10,
  /** some items failed and the rest were done (prune, cron): the output says which */
  partial: 11,
  interrupted: 130,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

export class QrvError extends Error {
  readonly code: string;
  readonly exit: ExitCodeName;
  readonly hint: string | undefined;

  constructor(exit: ExitCodeName, code: string, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QrvError';
    this.exit = exit;
    this.code = code;
    this.hint = hint;
  }

  get exitCode(): number {
    return ExitCode[this.exit];
  }
}

export function isQrvError(error: unknown): error is QrvError {
  return error instanceof QrvError;
}

/** Node's errno code of a system error, if there is one. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return undefined;
}
