// Failpoints: named places where qrv can be told to pause, die or fail, so that crash tests (and
// an admin checking the freeze guard) can stop it exactly there. QRV_FAILPOINTS is a comma list
// of NAME=ACTION, ACTION one of `sleep:<ms>`, `kill` (SIGKILL itself: no handler, no cleanup),
// `stop` (SIGSTOP itself: frozen until a SIGCONT) or `error` (an internal error, exit 1). Names:
// after-freeze, after-snapshot, mid-snapshot-copy (the file provider's copy done, the image not
// yet checked again), mid-copy, after-undo-save (an update's undo journal synced, its batch not
// yet written), before-checkpoint (a batch written, the destination not yet synced nor the
// progress saved), before-commit; catalog-write (holding the catalog lock, the change made,
// before it is written), after-history-append (finished rows appended to history, the catalog
// not yet written without them); in the dm provider dm-before-load (origin suspended, the snapshot not yet
// loaded), dm-before-resume (the snapshot loaded, the origin's snapshot-origin table loaded but
// not live, the origin still suspended) and dm-mid-remove (origin suspended, the snapshot device
// removed, the origin not yet linear again); in browsing, after-mount (a copy mounted read-only,
// before it is read); in recovery, before-write-back (the target checked, not yet opened); in archiving, mid-archive (a chunk put in the store, the generation's manifest not yet written); in the catalog, after-history-append (finished rows appended to the history
// store, not yet dropped from catalog.json) (docs/architecture.md, "Failpoints"). Unset, a failpoint costs one lookup.
import { setTimeout as sleep } from 'node:timers/promises';
import { QrvError } from './errors.ts';

export const FAILPOINTS = [
  'after-freeze',
  'after-snapshot',
  'mid-snapshot-copy',
  'mid-copy',
  'after-undo-save',
  'before-checkpoint',
  'before-commit',
  'catalog-write',
  'after-history-append',
  'dm-before-load',
  'dm-before-resume',
  'dm-mid-remove',
  'after-mount',
  'before-write-back',
  'mid-archive',
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

type Action = { kind: 'kill' } | { kind: 'stop' } | { kind: 'error' } | { kind: 'sleep'; ms: number };

const bad = (what: string) =>
  new QrvError(
    'usage',
    'bad-failpoints',
    `QRV_FAILPOINTS: ${what}`,
    `give a comma list of NAME=ACTION, NAME one of ${FAILPOINTS.join(', ')}, ACTION sleep:<ms> (at most 2147483647), kill, stop or error; or unset it`,
  );

/** QRV_FAILPOINTS read as a whole; anything it does not understand is refused, naming it. */
export function parseFailpoints(spec: string | undefined): Map<Failpoint, Action> {
  const actions = new Map<Failpoint, Action>();
  if (!spec?.trim()) return actions;
  for (const item of spec.split(',')) {
    if (!item.trim()) continue;
    const at = item.indexOf('=');
    const name = item.slice(0, at).trim();
    const action = item.slice(at + 1).trim();
    if (at < 1 || !(FAILPOINTS as readonly string[]).includes(name))
      throw bad(`"${item.trim()}" does not name a failpoint`);
    const pause = /^sleep:(\d+)$/.exec(action);
    // A timer longer than 2^31-1 ms fires at once in Node.
    if (pause && Number(pause[1]) <= 2 ** 31 - 1)
      actions.set(name as Failpoint, { kind: 'sleep', ms: Number(pause[1]) });
    else if (action === 'kill' || action === 'stop' || action === 'error')
      actions.set(name as Failpoint, { kind: action });
    else throw bad(`"${action}" is not an action for ${name}`);
  }
  return actions;
}

/**
 * Checks QRV_FAILPOINTS once at start-up (execute()), before anything is written: a typo must
 * be one usage line, not a job that fails halfway and leaves a failed snapshot row and its file.
 */
export function checkFailpoints(): void {
  parseFailpoints(process.env.QRV_FAILPOINTS);
}

/** Pauses, dies or throws here when QRV_FAILPOINTS names this point. */
export async function failpoint(name: Failpoint): Promise<void> {
  if (!process.env.QRV_FAILPOINTS) return;
  const action = parseFailpoints(process.env.QRV_FAILPOINTS).get(name);
  if (action === undefined) return;
  if (action.kind === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    await sleep(60_000); // SIGKILL is not instant; never go on meanwhile
  }
  if (action.kind === 'stop') process.kill(process.pid, 'SIGSTOP');
  if (action.kind === 'error') throw new Error(`failpoint ${name}`);
  if (action.kind === 'sleep') await sleep(action.ms);
}
