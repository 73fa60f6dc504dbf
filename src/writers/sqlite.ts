// The SQLite writer (F13). Objects are database files named by a path or a glob
// ("sqlite:/srv/app/app.db", "sqlite:/srv/*/data/*.db"); a file is one when it begins with
// SQLite's header. Bringing one to rest, through the sqlite3 program run as the file's owner (so
// that a -wal or -shm it creates is the owner's): its WAL is checkpointed into the file
// (TRUNCATE, when no reader is in the way), then BEGIN IMMEDIATE takes the write lock, which
// is held until the snapshot is taken: no transaction is half written in it. The lock ends
// with the session: if qrv dies, sqlite3's input closes and it lets go.
import { lstat, open, readlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { isQrvError, QrvError } from '../core/errors.ts';
import { HeldSession, SessionError } from '../system/session.ts';
import { asUser, ownerEnv, userName } from '../system/users.ts';
import type { Hold, HoldOptions, Writer, WriterInstance, WriterObject } from './writer.ts';

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** how long the WAL checkpoint may wait for other connections before the lock is taken without it */
const CHECKPOINT_WAIT_MS = 250;

/** Whether `file` is a regular file that begins with SQLite's header (opened without following a link). */
export async function isSqliteFile(file: string): Promise<boolean> {
  return (await sqliteOwner(file)) !== null;
}

/** The owner of `file` when it is a regular file that begins with SQLite's header (as opened: no link followed), else null. */
async function sqliteOwner(file: string): Promise<{ uid: number; gid: number } | null> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (!handle) return null;
  try {
    const st = await handle.stat();
    if (!st.isFile()) return null;
    const head = Buffer.alloc(HEADER.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.equals(HEADER) ? { uid: st.uid, gid: st.gid } : null;
  } finally {
    await handle.close();
  }
}

/**
 * Whether every link on the way to `file` (and on the way through their targets) is root's or
 * `uid`'s, the database's owner: a link of another user's could lead to a database that is not
 * theirs, which qrv would then hold, snapshot and hand back under the name given.
 */
async function linksTrusted(file: string, uid: number, hops = 0): Promise<boolean> {
  const parts = file.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const at = `/${parts.slice(0, i).join('/')}`;
    const st = await lstat(at).catch(() => null);
    if (!st?.isSymbolicLink()) continue;
    if ((st.uid !== 0 && st.uid !== uid) || hops > 40) return false;
    const target = path.resolve(path.dirname(at), await readlink(at));
    return linksTrusted(path.join(target, ...parts.slice(i)), uid, hops + 1);
  }
  return true;
}

function objectOf(file: string, owner: string, gid: number): WriterObject {
  return {
    instance: {
      writer: 'sqlite',
      name: path.dirname(file),
      paths: [file, `${file}-wal`, `${file}-shm`, `${file}-journal`],
      reach: { file, owner, gid: String(gid) },
    },
    name: path.basename(file),
  };
}

async function find(pattern: string): Promise<WriterObject[]> {
  if (!path.isAbsolute(pattern))
    throw new QrvError(
      'usage',
      'bad-object',
      `sqlite:${pattern} is not an absolute path`,
      'name SQLite databases by absolute path or glob: sqlite:/srv/app/app.db',
    );
  const { default: fg } = await import('fast-glob'); // loaded when a glob is read, not at every start
  const files = fg.isDynamicPattern(pattern)
    ? await fg(pattern, {
        absolute: true,
        onlyFiles: true,
        followSymbolicLinks: false,
        dot: true,
        suppressErrors: true,
      })
    : [pattern];
  const found: WriterObject[] = [];
  for (const file of files.sort()) {
    if (/-(wal|shm|journal)$/.test(file)) continue;
    const st = await sqliteOwner(file);
    if (!st || !(await linksTrusted(file, st.uid))) continue;
    // its owner by name; one with no name (a container's uid) by number: never skipped unsaid
    const { uid, gid } = st;
    found.push(objectOf(path.normalize(file), userName(uid) ?? String(uid), gid));
  }
  return found;
}

function session(instance: WriterInstance): HeldSession {
  const { file = '', owner = 'root', gid } = instance.reach;
  // a URI opened read-write without create: a file removed after find() is not made anew, empty
  const uri = `file:${file.split('/').map(encodeURIComponent).join('/')}?mode=rw`;
  const run = asUser(owner, 'sqlite3', ['-batch', '-bail', '-noheader', '-list', uri], gid ? Number(gid) : undefined);
  return new HeldSession({
    name: 'sqlite3',
    program: run.program,
    args: run.args,
    options: { cwd: '/', ...ownerEnv() },
    markCommand: (mark) => `.print ${mark}`,
  });
}

async function hold(instance: WriterInstance, options: HoldOptions): Promise<Hold> {
  const file = instance.reach['file'] ?? '';
  if (!(await isSqliteFile(file)))
    throw new QrvError(
      'hook',
      'writer-failed',
      `SQLite database ${file} could not be brought to rest: it is gone, or no longer an SQLite database`,
      'check the path the sub-client names (links are not followed)',
    );
  const sqlite = session(instance);
  const limit = options.timeoutMs + 5000;
  // one budget for the checkpoint and the lock: each waits for other connections
  const deadline = Date.now() + options.timeoutMs;
  const left = () => Math.max(1, Math.round(deadline - Date.now()));
  let method: string;
  try {
    const [mode = ''] = await sqlite.ask(`.timeout ${left()}\nPRAGMA journal_mode;`, limit);
    let checkpoint = '';
    if (mode === 'wal') {
      // briefly: TRUNCATE waits for readers too, and a long read transaction would keep it the
      // whole timeout; a WAL left unmerged is in the snapshot all the same (its -wal beside it)
      const [answer = ''] = await sqlite.ask(
        `.timeout ${Math.min(left(), CHECKPOINT_WAIT_MS)}\nPRAGMA wal_checkpoint(TRUNCATE);`,
        limit,
      );
      const [busy, frames] = answer.split('|');
      checkpoint = busy === '0' ? `WAL checkpointed (${frames} frames), ` : 'WAL kept (a reader was in the way), ';
    }
    await sqlite.ask(`.timeout ${left()}\nBEGIN IMMEDIATE;`, limit);
    method = `${checkpoint}write lock held (journal mode ${mode})`;
  } catch (error) {
    await sqlite.close();
    throw asWriterError(instance, 'could not be brought to rest', error);
  }
  return {
    instance,
    method,
    release: async () => {
      try {
        if (!sqlite.alive()) throw new SessionError('sqlite3 ended while it held the lock', 'ended');
        const [pages = ''] = await sqlite.ask('PRAGMA page_count;\nROLLBACK;', limit);
        return { position: `${pages} pages`, files: {} };
      } catch (error) {
        throw asWriterError(instance, 'was not held to the end of the snapshot', error);
      } finally {
        await sqlite.close();
      }
    },
    abandon: () => sqlite.close(),
  };
}

function asWriterError(instance: WriterInstance, what: string, error: unknown): Error {
  if (isQrvError(error)) return error;
  if (!(error instanceof SessionError)) return error as Error;
  const said = error.message.replace(/^\S*sqlite3: /, '').replace(/^(Runtime error|Error)[^:]*: /, '');
  const timeout = error.reason === 'timeout' || /database is locked/.test(said);
  return new QrvError(
    'hook',
    timeout ? 'writer-timeout' : 'writer-failed',
    `SQLite database ${instance.reach['file']} ${what}: ${said}`,
    timeout
      ? 'another connection held its lock longer than the writer may wait (--hook-timeout): raise it, or snapshot at a quieter time'
      : error.reason === 'ended'
        ? 'the sqlite3 session that held the lock ended (killed?): nothing was kept; run the job again'
        : 'check that sqlite3 is installed (apt-get install sqlite3) and that the file is a healthy database',
  );
}

export const sqliteWriter: Writer = {
  name: 'sqlite',
  summary: 'SQLite database files, named by absolute path or glob (sqlite:/srv/app/app.db)',
  find,
  discover: async () => [],
  hold,
};
