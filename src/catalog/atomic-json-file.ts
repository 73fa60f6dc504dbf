// Files of the qrv home, read and written without trusting names: a read opens without
// following a symbolic link and checks what it opened (a regular file of this user or root that
// nobody else can write); a write goes to a new temporary file with an unpredictable name
// (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), is fsync'ed, and is renamed over the old file only if
// that is still the version the change was based on; then the folder is fsync'ed. The file is
// mode 0600 (it names devices and paths an attacker would like to know).
import { constants, type BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { QrvError, errnoCode } from '../core/errors.ts';
import { notPrivateBecause, unsafeFile } from './private-files.ts';

/** Which version of a file was read: any write (an atomic rename is a new inode) changes it. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function identityOf(st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameIdentity(a: FileIdentity | null, b: FileIdentity | null): boolean {
  if (a === null || b === null) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** The text of a private file and which version it was; null when there is no file. */
export async function readPrivateText(file: string): Promise<{ text: string; identity: FileIdentity } | null> {
  const read = await readPrivateVersion(file, null);
  return read === null ? null : { text: read.text as string, identity: read.identity };
}

/**
 * readPrivateText, but when the file is still the version `known` (same inode, size, mtime and
 * ctime) its text is not read again: text is null then.
 */
export async function readPrivateVersion(
  file: string,
  known: FileIdentity | null,
): Promise<{ text: string | null; identity: FileIdentity } | null> {
  const opened = await openPrivate(file, constants.O_RDONLY);
  if (opened === null) return null;
  try {
    const identity = identityOf(opened.stat);
    return { text: sameIdentity(identity, known) ? null : await opened.handle.readFile('utf8'), identity };
  } finally {
    await opened.handle.close();
  }
}

/**
 * Opens a private file of the home without following a link, and checks what it opened: a
 * regular file of this user or root that nobody else can write (null when there is none).
 */
export async function openPrivate(
  file: string,
  flags: number,
): Promise<{ handle: fs.FileHandle; stat: BigIntStats } | null> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted under the name must not hang the open; fstat refuses it next.
    handle = await fs.open(file, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    if (errnoCode(error) === 'ELOOP') throw unsafeFile(file, 'it is a symbolic link');
    throw error;
  }
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile()) throw unsafeFile(file, 'it is not a regular file');
    const why = notPrivateBecause(stat);
    if (why) throw unsafeFile(file, why);
    return { handle, stat };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The version of `file` now (null when absent), by name, without following a link. */
export async function identityNow(file: string): Promise<FileIdentity | null> {
  try {
    return identityOf(await fs.lstat(file, { bigint: true }));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

export interface WriteGuards {
  /** The version the new text was made from; the write is refused if the file is another now. */
  basedOn?: FileIdentity | null;
  /** Runs right before the rename (e.g. checks that the lock is still held); throws to stop. */
  beforeRename?: () => Promise<void>;
}

/**
 * Removes the temporary files of `file` that a writer killed mid-write left behind. Only safe
 * under the lock that every writer of `file` holds: then no temporary file is in use.
 */
export async function removeLeftTemporaries(file: string): Promise<void> {
  const pattern = new RegExp(`^\\.${path.basename(file).replace(/[.]/g, '\\.')}\\.[0-9a-f]{16}\\.tmp$`);
  for (const name of await fs.readdir(path.dirname(file))) {
    if (pattern.test(name)) await fs.rm(path.join(path.dirname(file), name), { force: true });
  }
}

/** A new 0600 file beside `file` that nobody could have prepared: random name, O_EXCL, no link followed. */
async function createTemporary(file: string, mode: number): Promise<{ tmp: string; handle: fs.FileHandle }> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    return {
      tmp,
      handle: await fs.open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        mode,
      ),
    };
  } catch (error) {
    if (errnoCode(error) === 'EEXIST' || errnoCode(error) === 'ELOOP')
      throw unsafeFile(tmp, 'something already has the name of the new temporary file');
    throw error;
  }
}

/** Writes `text` as the new version of `file`; returns which version that is. */
export async function writeFileAtomic(
  file: string,
  text: string,
  guards: WriteGuards = {},
  mode = 0o600,
): Promise<FileIdentity> {
  const { tmp, handle } = await createTemporary(file, mode);
  try {
    try {
      await handle.writeFile(text);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (guards.basedOn !== undefined && !sameIdentity(guards.basedOn, await identityNow(file))) {
      throw new QrvError(
        'busy',
        'catalog-changed',
        `${file} was replaced by another process while this qrv held the lock; nothing was written`,
        'run the command again; if it happens again, something writes the catalog without taking its lock (an older qrv, or an editor)',
      );
    }
    await guards.beforeRename?.();
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
  const dir = await fs.open(path.dirname(file), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  // The writer holds the file's lock: nothing else renames over it in between.
  return (await identityNow(file)) as FileIdentity;
}
