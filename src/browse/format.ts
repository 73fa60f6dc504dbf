// How entries are printed: `ls -l`-like lines for people, plain rows for --json.
import { hostNames } from '../system/users.ts';
import { modeString } from './names.ts';
import type { FsEntry } from './types.ts';

/** The fields `--json` prints for an entry. */
export function entryJson(entry: FsEntry): Record<string, unknown> {
  return {
    name: entry.name,
    path: entry.path,
    type: entry.type,
    size: entry.size,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtime: entry.mtime,
    ...(entry.type === 'symlink' ? { target: entry.target ?? null } : {}),
    ...(entry.rdev ? { rdev: entry.rdev } : {}),
  };
}

const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** `ls -l` lines: mode, links, owner, group, size (major, minor for devices), time (UTC), name, -> target. */
export function longLines(entries: FsEntry[], show: (entry: FsEntry) => string = (e) => e.name): string[] {
  const names = hostNames();
  const rows = entries.map((e) => [
    modeString(e.mode),
    String(e.links),
    names.user(e.uid),
    names.group(e.gid),
    e.rdev ? `${e.rdev.major}, ${e.rdev.minor}` : String(e.size),
    when(e.mtime),
    `${show(e)}${e.type === 'symlink' ? ` -> ${e.target ?? '(unreadable)'}` : ''}`,
  ]);
  const width = (i: number) => Math.max(0, ...rows.map((r) => (r[i] as string).length));
  const right = new Set([1, 4]);
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : right.has(i) ? cell.padStart(width(i)) : cell.padEnd(width(i))))
      .join(' '),
  );
}
