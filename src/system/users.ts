// This host's users and groups by number (/etc/passwd, /etc/group): names for `ls -l` lines, and
// the user a writer's session runs as (runuser -u NAME), so that files it creates beside a
// database (an SQLite -wal, a psql history) belong to the database's owner, not to root.
import { readFileSync } from 'node:fs';

function table(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
    }
  } catch {
    // no names: numbers are shown
  }
  return names;
}

/** Names of this host's users and groups, as ls shows them (a number when it has none). */
export function hostNames(): { user: (uid: number) => string; group: (gid: number) => string } {
  const users = table('/etc/passwd');
  const groups = table('/etc/group');
  return { user: (uid) => users.get(uid) ?? String(uid), group: (gid) => groups.get(gid) ?? String(gid) };
}

/** The name of user `uid`, or null when /etc/passwd has none. */
export function userName(uid: number): string | null {
  return table('/etc/passwd').get(uid) ?? null;
}

/**
 * `program args` as user `user`: through runuser when qrv runs as root and `user` is another,
 * as it is otherwise (an argument array, never a shell).
 */
export function asUser(user: string, program: string, args: string[]): { program: string; args: string[] } {
  const root = process.getuid?.() === 0;
  return root && user !== 'root'
    ? { program: 'runuser', args: ['-u', user, '--', program, ...args] }
    : { program, args };
}
