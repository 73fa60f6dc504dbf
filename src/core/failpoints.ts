// Failpoints: named places where qrv can be told to pause, die or fail, so that crash tests (and
// an admin checking the freeze guard) can stop it exactly there. QRV_FAILPOINTS is a comma list
// of NAME=ACTION, ACTION one of `sleep:<ms>`, `kill` (SIGKILL itself: no handler, no cleanup)
// or `error` (an internal error, exit 1). Names: after-freeze, after-snapshot, mid-copy,
// after-undo-save (an update's undo journal synced, its batch not yet written), before-checkpoint
// (a batch written, the destination not yet synced nor the progress saved), before-commit; in the dm provider dm-before-load (origin suspended, the snapshot not yet
// loaded), dm-before-resume (the snapshot loaded, the origin's snapshot-origin table loaded but
// not live, the origin still suspended) and dm-mid-remove (origin suspended, the snapshot device
// removed, the origin not yet linear again); in browsing, after-mount (a copy mounted read-only,
// before it is read) (docs/architecture.md, "Failpoints"). Unset, a failpoint costs one lookup.
import { setTimeout as sleep } from 'node:timers/promises';

export const FAILPOINTS = ['after-freeze', 'after-snapshot', 'mid-copy', 'after-undo-save', 'before-checkpoint', 'before-commit', 'dm-before-load', 'dm-before-resume', 'dm-mid-remove', 'after-mount'] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

function actionFor(name: Failpoint): string | null {
  const spec = process.env.QRV_FAILPOINTS;
  if (!spec) return null;
  for (const item of spec.split(',')) {
    const at = item.indexOf('=');
    if (at > 0 && item.slice(0, at).trim() === name) return item.slice(at + 1).trim();
  }
  return null;
}

/** Pauses, dies or throws here when QRV_FAILPOINTS names this point. */
export async function failpoint(name: Failpoint): Promise<void> {
  const action = actionFor(name);
  if (action === null) return;
  if (action === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    await sleep(60_000); // SIGKILL is not instant; never go on meanwhile
  }
  if (action === 'error') throw new Error(`failpoint ${name}`);
  const pause = /^sleep:(\d+)$/.exec(action);
  if (pause) {
    await sleep(Number(pause[1]));
    return;
  }
  throw new Error(`QRV_FAILPOINTS: "${action}" is not an action for ${name} (sleep:<ms>, kill or error)`);
}
