// What recovering an application object shares (F13): the request, the chosen copies, the line
// that names them, and the files it writes: a new 0600 file never reached through a link, and a
// private work folder.
import { constants, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { short } from '../output/rows.ts';
import { makeWorkDir } from '../system/work-dirs.ts';
import type { ObjectResolution } from './resolve-object.ts';

export interface RecoverObjectRequest {
  object: string;
  /** default: now (the newest copy) */
  asOf?: string;
  to?: string;
  /** PostgreSQL: restore into the running cluster as a new database of this name */
  into?: string;
  force: boolean;
}

export type Chosen = ObjectResolution & { chosen: NonNullable<ObjectResolution['chosen']> };

/** "postgresql:main/billing as of …: group g-… of …" */
export function chosenLine(r: Chosen): string {
  return `${r.object} as of ${short(r.asOf)}: group ${r.chosen.groupId} of ${short(r.chosen.pointInTime)} (${r.chosen.copies.map((c) => `${c.volume} from ${c.id}`).join(', ')})`;
}

/** The file --to names, open; removed (after a failure) and closed in the folder it was made in. */
export interface Output {
  file: FileHandle;
  remove(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A new file at `to`, 0600, never through a link; an existing regular file is replaced only with
 * --force. Its folder is opened once (as given) and the file found, made and removed in it by
 * descriptor (/proc/self/fd): a folder on the way that another user swaps for a link meanwhile
 * (a --to in their folder) cannot make root replace, make or remove a file elsewhere.
 */
export async function createOutput(to: string, force: boolean): Promise<Output> {
  const dir = await fs
    .open(path.dirname(path.resolve(to)), constants.O_RDONLY | constants.O_DIRECTORY)
    .catch((error: NodeJS.ErrnoException) => {
      throw new QrvError(
        'refused',
        'target-kind',
        `cannot open the folder of ${to}: ${error.code}`,
        'give another --to',
      );
    });
  const at = `/proc/self/fd/${dir.fd}/${path.basename(to)}`;
  try {
    const file = await createIn(at, to, force);
    return {
      file,
      remove: () => fs.rm(at, { force: true }),
      close: async () => {
        await file.close();
        await dir.close();
      },
    };
  } catch (error) {
    await dir.close();
    throw error;
  }
}

async function createIn(at: string, to: string, force: boolean): Promise<FileHandle> {
  const st: Stats | null = await fs.lstat(at).catch(() => null);
  if (st && !(force && st.isFile()))
    throw new QrvError(
      'refused',
      st.isFile() ? 'target-exists' : 'target-kind',
      `${to} exists${st.isFile() ? '' : ' and is not a regular file'}`,
      st.isFile() ? 'give --force to replace it, or another --to' : 'give another --to',
    );
  if (st) await fs.unlink(at);
  return fs
    .open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    .catch((error: NodeJS.ErrnoException) => {
      throw new QrvError(
        'refused',
        error.code === 'EEXIST' ? 'target-exists' : 'target-kind',
        `cannot create ${to}: ${error.code ?? error.message}`,
        'give another --to',
      );
    });
}

/** A private 0700 folder for work files; removed by the caller. */
export async function privateWorkDir(prefix: 'qrv-sqlite-' | 'qrv-pgdump-'): Promise<string> {
  return makeWorkDir(prefix);
}
