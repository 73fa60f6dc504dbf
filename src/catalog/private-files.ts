// What makes a folder or file of the qrv home trustworthy, the way sshd's StrictModes judges
// ~/.ssh: it belongs to this user or to root, and nobody else can write it. A root qrv runs
// the hooks its catalog names, so a catalog someone else could write is a way to become root.
// Every check works on a stat of what was opened (or of a path whose parents passed the same
// checks), never on a name that could be swapped afterwards.
import { QrvError } from '../core/errors.ts';

export { euid, modeText, notPrivateBecause, unsafeParentBecause } from '../core/private-mode.ts';

/** The refusal of a file of the home (catalog.json, a lock, a temporary file). */
export function unsafeFile(file: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'catalog-unsafe',
    `refusing ${file}: ${why}`,
    'qrv only uses a catalog and lock that belong to its own user (or root), are regular files and are writable by nobody else; check who made it, then remove or fix it',
  );
}

/** The refusal of the home itself or of one of its parents. */
export function unsafeHome(home: string, why: string): QrvError {
  return new QrvError(
    'catalog',
    'home-unsafe',
    `refusing the qrv home ${home}: ${why}`,
    'another user could change the catalog and the hooks qrv runs; make the folder and its parents belong to you or root and writable by nobody else (chmod go-w), or pass another --home',
  );
}
