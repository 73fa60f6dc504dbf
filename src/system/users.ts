// This host's users and groups by number (/etc/passwd, /etc/group): names for `ls -l` lines, and
// the user a writer's session runs as (runuser -u NAME), so that files it creates beside a
// database (an SQLite -wal, a psql history) belong to the database's owner, not to root.
import { readFileSync } from 'node:fs';
import { toolSync } from './tools.ts';

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

/** The name of user `uid` (from /etc/passwd, else NSS: LDAP, systemd's dynamic users), or null when it has none. */
export function userName(uid: number): string | null {
  const local = table('/etc/passwd').get(uid);
  if (local) return local;
  const entry = toolSync('getent', ['passwd', String(uid)]);
  const name = entry.exitCode === 0 ? String(entry.stdout).split(':')[0] : '';
  return name || null;
}

/**
 * The environment of a program qrv runs as another user (a database's owner): none of qrv's own,
 * which may hold secrets (an archive store's AWS keys) that user could read in /proc/PID/environ
 * or have their server print; only PATH (to find the program) and `extra`.
 */
export function ownerEnv(extra: Record<string, string> = {}): { extendEnv: false; env: Record<string, string> } {
  const PATH = process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return { extendEnv: false, env: { PATH, ...extra } };
}

/**
 * `program args` as user `user`: through runuser when qrv runs as root and `user` is another;
 * a user that is only a number (a uid with no name) through setpriv, with group `gid` (else the
 * same number) and no others; as it is otherwise (an argument array, never a shell).
 */
export function asUser(
  user: string,
  program: string,
  args: string[],
  gid?: number,
): { program: string; args: string[] } {
  const root = process.getuid?.() === 0;
  if (!root || user === 'root') return { program, args };
  if (/^\d+$/.test(user))
    return {
      program: 'setpriv',
      args: ['--reuid', user, '--regid', String(gid ?? user), '--clear-groups', '--', program, ...args],
    };
  return { program: 'runuser', args: ['-u', user, '--', program, ...args] };
}
