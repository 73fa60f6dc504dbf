// How long a freeze may last, apart from the freezing itself (which loads the guard and execa):
// the policy rules read it to check --max-freeze.
/**
 * Default longest freeze (--max-freeze, issue 18): the guard's deadline. Every writer of a frozen
 * filesystem stalls for the whole window, so a few seconds; a copy that would take longer is
 * refused before anything is frozen. QRV_FREEZE_GUARD_MS overrides the default (tests, an admin).
 */
export const DEFAULT_MAX_FREEZE_MS = 5_000;

export function guardDeadlineMs(): number {
  const value = Number(process.env.QRV_FREEZE_GUARD_MS ?? DEFAULT_MAX_FREEZE_MS);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_FREEZE_MS;
}
