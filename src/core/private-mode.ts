// Who may be trusted with a file or folder qrv works in, the way sshd's StrictModes judges
// ~/.ssh: it belongs to this user or to root, and nobody else can write it. Used for the home,
// the history store, the file provider's snapshot store and the folder copies are mounted in.
import type { BigIntStats, Stats } from 'node:fs';

const S_ISVTX = 0o1000;

export function euid(): number {
  return process.geteuid?.() ?? 0;
}

/** Octal mode for messages, e.g. "0777" or "1777". */
export function modeText(mode: number | bigint): string {
  return (Number(mode) & 0o7777).toString(8).padStart(4, '0');
}

/** Why a file or folder is not private to this user (or root), or null when it is. */
export function notPrivateBecause(st: Stats | BigIntStats): string | null {
  const uid = Number(st.uid);
  if (uid !== 0 && uid !== euid())
    return `it is owned by uid ${uid}, not by ${euid() === 0 ? 'root' : `uid ${euid()} (this user) or root`}`;
  const mode = Number(st.mode);
  if (mode & 0o022)
    return `it is writable by ${mode & 0o020 && mode & 0o002 ? 'group and others' : mode & 0o020 ? 'its group' : 'others'} (mode ${modeText(mode)})`;
  return null;
}

/**
 * Why a folder above something of qrv's would let someone else swap what is below it, or null:
 * it must belong to this user or root and be writable by nobody else, unless its sticky bit
 * keeps others from renaming what they do not own (as in /tmp).
 */
export function unsafeParentBecause(st: Stats): string | null {
  if (st.uid !== 0 && st.uid !== euid()) return `it is owned by uid ${st.uid}`;
  if (st.mode & 0o022 && !(st.mode & S_ISVTX))
    return `it is writable by ${st.mode & 0o002 ? 'others' : 'its group'} without the sticky bit (mode ${modeText(st.mode)})`;
  return null;
}
