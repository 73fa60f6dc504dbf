// Makes the snapshot file: a reflink clone (FICLONE) when the filesystem has them, otherwise a
// sparse-aware block copy that checks it copied one point in time (issue 18). Both work on
// descriptors: the image is opened once (no link followed) and the snapshot file is created with
// O_EXCL|O_NOFOLLOW in the checked store; both copies go through /proc/self/fd, so a path swapped
// meanwhile changes nothing, and the snapshot's mode is set with fchmod (issue 12).
import fs, { type FileHandle } from 'node:fs/promises';
import { constants, type BigIntStats } from 'node:fs';
import { copyImage } from '../../copy/block-copy.ts';
import { QrvError } from '../../core/errors.ts';
import { failpoint } from '../../core/failpoints.ts';
import { writerNames, writersOf, type Writer } from '../../system/writers.ts';

/** errno codes with which FICLONE says "not here" (ext4, tmpfs, across filesystems). */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

export type CloneMethod = 'reflink' | 'sparse-copy';

export interface Cloned {
  method: CloneMethod;
  /** the image changed while it was copied (never for a clone) */
  torn: boolean;
  /** who held the image open for writing before or after the copy */
  writers: Writer[];
  /** bytes per second of the copy (allocated bytes over its time); null for a clone */
  copyRate: number | null;
}

/** The least a copy must move for its rate to be remembered (64 MiB). */
const RATE_SAMPLE_MIN = 64 * 2 ** 20;

const fdPath = (handle: FileHandle) => `/proc/${process.pid}/fd/${handle.fd}`;

/** Opens the image read-only without following a link and checks it is a regular file. */
export async function openImage(source: string): Promise<FileHandle> {
  const handle = await fs.open(source, constants.O_RDONLY | constants.O_NOFOLLOW);
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new QrvError(
      'usage',
      'not-an-image',
      `${source} is not a regular file`,
      'the file provider takes image files',
    );
  }
  return handle;
}

/** Whether the image can be cloned into `store`: a real FICLONE of it into a scratch file there, removed at once. */
export async function canClone(source: string, store: string): Promise<boolean> {
  const image = await openImage(source);
  const scratch = `${store}/.probe-${process.pid}-${Date.now()}.tmp`;
  const target = await fs.open(
    scratch,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await fs.copyFile(fdPath(image), fdPath(target), constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch (error) {
    if (NO_REFLINK.has((error as NodeJS.ErrnoException).code ?? '')) return false;
    throw error;
  } finally {
    await target.close();
    await image.close();
    await fs.rm(scratch, { force: true });
  }
}

const same = (a: BigIntStats, b: BigIntStats) =>
  a.ctimeNs === b.ctimeNs && a.mtimeNs === b.mtimeNs && a.size === b.size;

/**
 * Clones or copies the image `source` to a new file `target` (which must not exist) with `mode`.
 * A copy reads the image through the descriptor it stats before and after: if its change time,
 * modification time or size moved, someone wrote to it meanwhile and the copy is torn.
 */
export async function cloneImage(source: string, target: string, sizeBytes: number, mode: number): Promise<Cloned> {
  const image = await openImage(source);
  try {
    const out = await fs.open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    let done = false;
    try {
      const result = await cloneOrCopy(image, out, sizeBytes);
      await out.chmod(mode);
      done = true;
      return result;
    } finally {
      await out.close();
      if (!done) await fs.rm(target, { force: true });
    }
  } finally {
    await image.close();
  }
}

async function cloneOrCopy(image: FileHandle, out: FileHandle, sizeBytes: number): Promise<Cloned> {
  try {
    await fs.copyFile(fdPath(image), fdPath(out), constants.COPYFILE_FICLONE_FORCE);
    return { method: 'reflink', torn: false, writers: [], copyRate: null };
  } catch (error) {
    if (!NO_REFLINK.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  }
  const before = await image.stat({ bigint: true });
  const writersBefore = await writersOf(Number(before.dev), Number(before.ino));
  const started = process.hrtime.bigint();
  await out.truncate(0);
  await copyImage({ source: fdPath(image), destination: fdPath(out), sizeBytes, destinationKind: 'file' });
  await failpoint('mid-snapshot-copy');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await image.stat({ bigint: true });
  const writersAfter = await writersOf(Number(after.dev), Number(after.ino));
  const writers = [...writersBefore, ...writersAfter.filter((w) => !writersBefore.some((b) => b.pid === w.pid))];
  // Only a copy large enough that its bytes, not its fixed costs (extent map, open, sync), set its
  // length says anything about the rate.
  const allocated = Number(after.blocks) * 512;
  return {
    method: 'sparse-copy',
    torn: !same(before, after),
    writers,
    copyRate: allocated >= RATE_SAMPLE_MIN && seconds > 0 ? allocated / seconds : null,
  };
}

/** The one line for an image that changed while it was copied: who wrote, and what to do. */
export function tornError(volume: string, path: string, writers: Writer[]): QrvError {
  const who = writers.length
    ? `; open for writing by ${writerNames(writers)}`
    : '; the writer opened, wrote and closed it meanwhile';
  return new QrvError(
    'refused',
    'torn-copy',
    `volume "${volume}": ${path} changed while it was copied, so the copy is no single point in time and was discarded${who}`,
    'pause the writer from a pre-snapshot hook (a libvirt guest: `virsh domfsfreeze` or `virsh suspend`, and resume it post-snapshot), or loop-mount the image so that qrv freezes it, or keep the image on a reflink filesystem (XFS with reflink, btrfs); --allow-inconsistent keeps such a copy as crash-torn',
  );
}
