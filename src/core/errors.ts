// One error type for everything the user can act on: a code, an exit status, one line that
// says what is wrong, and a hint that says what to do. Anything else that escapes is a bug.

import { ExitCode, type ErrorCode, type ExitOf } from './error-codes.ts';

export { ExitCode, errorCode, type ErrorCode, type ExitCodeName } from './error-codes.ts';

export class QrvError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly exit: ExitOf<C>;
  readonly hint: string | undefined;

  constructor(exit: ExitOf<C>, code: C, message: string, hint?: string, options?: { cause?: unknown }) {
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
