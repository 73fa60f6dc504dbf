// The file provider's snapshot store, opened once as a folder descriptor (issue 12): made 0700 when
// missing; refused when it is a link, not a folder, owned by another user, or writable by group or
// others (anyone who can write it could swap a snapshot file for a link to a file of root's). Files
// in it are named through /proc/self/fd/<folder>, so a path swapped above it changes nothing.
import fs, { type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { QrvError } from '../../core/errors.ts';
import { notPrivateBecause } from '../../core/private-mode.ts';

export interface Store {
  /** the folder, through its descriptor */
  dir: string;
  /** the path of an entry in it, through its descriptor */
  entry(name: string): string;
  /** removes an entry; gone already is fine */
  remove(name: string): Promise<void>;
  close(): Promise<void>;
  /** the first folder that opening it made (mkdir -p), for removing again when nothing was kept */
  made: string | undefined;
}

function unsafe(store: string, why: string): QrvError {
  return new QrvError(
    'refused',
    'snapshot-store-unsafe',
    `refusing the snapshot store ${store}: ${why}`,
    `make it a folder owned by ${process.geteuid?.() === 0 ? 'root' : 'you'} that only its owner can write (chown, chmod 700), or re-add the volume with another --snapshot-dir`,
  );
}

/**
 * Checks the store without changing anything (before a snapshot job writes its first row): a
 * missing store is fine (it is made 0700); a link, a non-folder, another user's folder or one
 * others can write is refused.
 */
export async function checkStore(store: string): Promise<void> {
  const st = await fs.lstat(store).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new QrvError(
      'io',
      'snapshot-store',
      `cannot use the snapshot store ${store} (${error.code ?? error.message})`,
      'fix the folder, or re-add the volume with another --snapshot-dir',
    );
  });
  if (!st) return;
  if (st.isSymbolicLink()) throw unsafe(store, 'it is a symbolic link');
  if (!st.isDirectory()) throw unsafe(store, 'it is not a folder');
  const problem = notPrivateBecause(st);
  if (problem) throw unsafe(store, problem);
}

/** Opens (and first makes, 0700) the store `store`, checked as above, on its descriptor too. */
export async function openStore(store: string): Promise<Store> {
  const made = await fs.mkdir(store, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return undefined; // a link or a file in its place: refused below
    throw new QrvError(
      'io',
      'snapshot-store',
      `cannot make the snapshot store ${store} (${error.code ?? error.message})`,
      'fix the folder, or re-add the volume with another --snapshot-dir',
    );
  });
  await checkStore(store);
  let handle: FileHandle;
  try {
    handle = await fs.open(store, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw unsafe(store, 'it is not a folder, or was swapped for a link');
    throw new QrvError(
      'io',
      'snapshot-store',
      `cannot open the snapshot store ${store} (${code ?? (error as Error).message})`,
      'fix the folder, or re-add the volume with another --snapshot-dir',
    );
  }
  const st = await handle.stat();
  const problem = st.isDirectory() ? notPrivateBecause(st) : 'it is not a folder';
  if (problem) {
    await handle.close();
    throw unsafe(store, problem);
  }
  const dir = `/proc/${process.pid}/fd/${handle.fd}`;
  return {
    dir,
    entry: (name) => `${dir}/${name}`,
    remove: (name) => fs.rm(`${dir}/${name}`, { force: true }),
    close: () => handle.close(),
    made,
  };
}
