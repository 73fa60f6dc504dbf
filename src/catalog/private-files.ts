// What makes a folder or file of the qrv home trustworthy, the way sshd's StrictModes judges
// ~/.ssh: it belongs to this user or to root, and nobody else can write it. A root qrv runs
// the hooks its catalog names, so a catalog someone else could write is a way to become root.
// Every check works on a stat of what was opened (or of a path whose parents passed the same
// checks), never on a name that could be swapped afterwards.
import type { BigIntStats, Stats } from 'node:fs';
import { QrvError } from '../core/errors.ts';

const S_ISVTX = 0o1000;

export function euid(): number {
  return process.geteuid?.() ?? 0;
}

/** Octal mode for messages, e.g. "0777" or "1777". */
export function modeText(mode: number | bigint): string {
  return (Number(mode) & 0o7777).toString(8).padStart(4, '0');
}

/** Why a file or folder of the home is not private to this user, or null when it is. */
export function notPrivateBecause(st: Stats | BigIntStats): string | null {
  const uid = Number(st.uid);
  if (uid !== 0 && uid !== euid()) return `it is owned by uid ${uid}, not by ${euid() === 0 ? 'root' : `uid ${euid()} (this user) or root`}`;
  const mode = Number(st.mode);
  if (mode & 0o022) return `it is writable by ${mode & 0o020 && mode & 0o002 ? 'group and others' : mode & 0o020 ? 'its group' : 'others'} (mode ${modeText(mode)})`;
  return null;
}

/**
 * Why a parent folder of the home would let someone else swap the home, or null: it must
 * belong to this user or root and be writable by nobody else, unless its sticky bit keeps
 * others from renaming what they do not own (as in /tmp).
 */
export function unsafeParentBecause(st: Stats): string | null {
  if (st.uid !== 0 && st.uid !== euid()) return `it is owned by uid ${st.uid}`;
  if (st.mode & 0o022 && !(st.mode & S_ISVTX)) return `it is writable by ${st.mode & 0o002 ? 'others' : 'its group'} without the sticky bit (mode ${modeText(st.mode)})`;
  return null;
}

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
