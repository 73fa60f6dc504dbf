// An archive store in a folder (a second disk, an NFS or CIFS mount): opened once as a folder
// descriptor and refused unless it is a folder that only its owner (this user or root) can write,
// as the home is. Objects are written to a temporary name (O_EXCL, O_NOFOLLOW, 0600), fsync'ed
// and renamed into place; folders are made 0700; flush() fsyncs the folders that gained entries.
import fs, { type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { QrvError, errnoCode } from '../core/errors.ts';
import { euid, notPrivateBecause, unsafeParentBecause } from '../core/private-mode.ts';
import {
  checkFolder,
  checkKey,
  objectMissing,
  storeFailed,
  storeFull,
  tooLarge,
  type ArchiveStore,
  type StoreObject,
} from './store.ts';

function unsafe(root: string, why: string): QrvError {
  return new QrvError(
    'refused',
    'store-unsafe',
    `refusing the archive store ${root}: ${why}`,
    `make it a folder owned by ${process.geteuid?.() === 0 ? 'root' : 'you'} that only its owner can write (chown, chmod 700)`,
  );
}

function failure(root: string, doing: string, error: unknown): QrvError {
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') return storeFull(root, code);
  return storeFailed(root, doing, code ?? String(error));
}

/** Opens the folder `root` (made 0700 first when `create`), checked on its descriptor. */
export async function openDirStore(root: string, create = false): Promise<ArchiveStore> {
  if (!path.isAbsolute(root)) throw new QrvError('usage', 'bad-store', `--dir needs an absolute path, not ${root}`);
  if (create) {
    const above = await unsafeAbove(root);
    if (above) throw unsafe(root, above);
    await fs.mkdir(root, { recursive: true, mode: 0o700 }).catch(() => undefined);
  }
  let handle: FileHandle;
  try {
    handle = await fs.open(root, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ELOOP' || code === 'ENOTDIR') throw unsafe(root, 'it is not a folder, or is a symbolic link');
    if (code === 'ENOENT')
      throw new QrvError('io', 'store-failed', `the archive store ${root} does not exist`, 'mount or make it');
    throw failure(root, 'open the folder', error);
  }
  const problem = notPrivateBecause(await handle.stat()) ?? (await unsafeAbove(root));
  if (problem) {
    await handle.close();
    throw unsafe(root, problem);
  }
  return new DirStore(root, handle);
}

/**
 * Why a folder above the store would let someone else swap the store for another folder (or send
 * qrv's next open elsewhere), or null: as for the home, each must be this user's or root's and
 * writable by no one else unless sticky, and a link on the way must be this user's or root's.
 * Checked before a store is made (a missing folder is passed over: qrv makes it) and after the
 * open: a folder that is safe now was safe then (no one else can make one so).
 */
async function unsafeAbove(root: string): Promise<string | null> {
  const missing = (error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  };
  for (let at = path.dirname(root); ; at = path.dirname(at)) {
    const link = await fs.lstat(at).catch(missing);
    const st = link?.isSymbolicLink() ? await fs.stat(at).catch(missing) : link;
    const why =
      link?.isSymbolicLink() && link.uid !== 0 && link.uid !== euid()
        ? `it is a symbolic link owned by uid ${link.uid}`
        : st && unsafeParentBecause(st);
    if (why) return `the folder ${at} above it is not safe: ${why}`;
    if (at === path.dirname(at)) return null;
  }
}

class DirStore implements ArchiveStore {
  readonly kind = 'dir' as const;
  private readonly base: string;
  /** folders that gained or lost an entry since the last flush() */
  private readonly touched = new Set<string>();

  constructor(
    readonly where: string,
    private readonly handle: FileHandle,
  ) {
    this.base = `/proc/${process.pid}/fd/${handle.fd}`;
  }

  private at(key: string): string {
    return key === '' ? this.base : `${this.base}/${key}`;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    checkKey(key);
    const folder = path.posix.dirname(key);
    if (folder !== '.') await this.makeFolder(folder);
    const temp = `${key}.tmp-${randomBytes(6).toString('hex')}`;
    let file: FileHandle | undefined;
    try {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      file = await fs.open(this.at(temp), flags, 0o600);
      await file.writeFile(data);
      await file.sync();
      await file.close();
      file = undefined;
      await fs.rename(this.at(temp), this.at(key));
      this.touched.add(folder === '.' ? '' : folder);
    } catch (error) {
      await file?.close().catch(() => undefined);
      await fs.rm(this.at(temp), { force: true }).catch(() => undefined);
      throw failure(this.where, `write ${key}`, error);
    }
  }

  private async makeFolder(folder: string): Promise<void> {
    let at = '';
    for (const part of folder.split('/')) {
      const parent = at;
      at = at ? `${at}/${part}` : part;
      try {
        await fs.mkdir(this.at(at), { mode: 0o700 });
        this.touched.add(parent);
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw failure(this.where, `make the folder ${at}`, error);
      }
    }
  }

  async get(key: string, limit: number): Promise<Buffer> {
    return this.reading(key, async (file, size) => {
      if (size > limit) throw tooLarge(this.where, key, limit);
      return file.readFile();
    });
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.reading(key, async (file, size) => {
      // no more than the object holds: a length a hostile store names is never allocated
      const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      let done = 0;
      while (done < out.length) {
        // at most 1 GiB a read: node aborts (an assertion, no exception) on a length over 2 GiB
        const piece = Math.min(out.length - done, 1 << 30);
        const { bytesRead } = await file.read(out, done, piece, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.subarray(0, done);
    });
  }

  /**
   * Opens the object without following a link, reads it with `read`, and closes it. O_NONBLOCK: a
   * FIFO in its place (the server of a mounted store can make one) opens at once and is refused.
   */
  private async reading(key: string, read: (file: FileHandle, size: number) => Promise<Buffer>): Promise<Buffer> {
    checkKey(key);
    try {
      const file = await fs.open(this.at(key), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const st = await file.stat();
        if (!st.isFile()) throw storeFailed(this.where, `read ${key}`, 'it is not a regular file');
        return await read(file, st.size);
      } finally {
        await file.close();
      }
    } catch (error) {
      if (error instanceof QrvError) throw error;
      if (errnoCode(error) === 'ENOENT') throw objectMissing(this.where, key);
      throw failure(this.where, `read ${key}`, error);
    }
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    try {
      const st = await fs.lstat(this.at(key));
      return st.isFile() ? st.size : null;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return null;
      throw failure(this.where, `look up ${key}`, error);
    }
  }

  async list(folder: string): Promise<StoreObject[]> {
    const prefix = checkFolder(folder);
    const found: StoreObject[] = [];
    const walk = async (at: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(this.at(at.replace(/\/$/, '')), { withFileTypes: true });
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return;
        throw failure(this.where, `list ${at || 'the store'}`, error);
      }
      for (const entry of entries) {
        const key = `${at}${entry.name}`;
        if (entry.isDirectory()) await walk(`${key}/`);
        else if (entry.isFile() && !entry.name.includes('.tmp-')) {
          const size = await this.sizeListed(key);
          if (size !== null) found.push({ key, size });
        }
      }
    };
    await walk(prefix);
    return found;
  }

  /** The size of an object just listed, or null when it was removed since (another process's remove). */
  private async sizeListed(key: string): Promise<number | null> {
    try {
      return (await fs.lstat(this.at(key))).size;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return null;
      throw failure(this.where, `list ${key}`, error);
    }
  }

  async remove(key: string): Promise<void> {
    checkKey(key);
    try {
      await fs.unlink(this.at(key));
      const folder = path.posix.dirname(key);
      this.touched.add(folder === '.' ? '' : folder);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw failure(this.where, `remove ${key}`, error);
    }
  }

  async flush(): Promise<void> {
    for (const folder of [...this.touched].sort((a, b) => b.length - a.length)) {
      const dir = await fs.open(this.at(folder), constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await dir.sync();
      } catch (error) {
        throw failure(this.where, `sync the folder ${folder || '.'}`, error);
      } finally {
        await dir.close();
      }
    }
    this.touched.clear();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
