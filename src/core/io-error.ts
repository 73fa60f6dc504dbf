// Turns Node's fs errors into QrvError('io', ...) that name the path, the operation and the errno,
// with a hint a user can act on. The copy engine wraps every fs call with `ioCall`.
import type { FileHandle } from 'node:fs/promises';
import { QrvError, errnoCode, isQrvError } from './errors.ts';

const HINTS: Record<string, string> = {
  ENOENT: 'check that the path exists (is the snapshot still there?)',
  EACCES: 'permission denied: run qrv as root or fix the permissions of the path',
  EPERM: 'operation not permitted: run qrv as root or check that the file is not immutable',
  ENOSPC: 'the destination filesystem is full: free space or choose another destination',
  EDQUOT: 'a disk quota is exhausted on the destination filesystem',
  EROFS: 'the filesystem is mounted read-only',
  EIO: 'the device reported an I/O error: check the disk and the kernel log (dmesg)',
  EISDIR: 'the path is a directory; give a file or block device path',
  ENOTDIR: 'a component of the path is not a directory',
  EBUSY: 'the device is in use (mounted or held open exclusively); unmount it first',
  EFBIG: 'the destination filesystem cannot hold a file this large',
  EMFILE: 'too many open files: raise the open-file limit (ulimit -n)',
  ENXIO: 'the device does not exist or is not ready',
  EINVAL: 'the kernel rejected the operation for this file type',
};

export type IoOperation = 'open' | 'stat' | 'read' | 'write' | 'truncate' | 'chmod' | 'sync' | 'close';

/** Builds the QrvError for a failed fs call. Passes QrvErrors through unchanged. */
export function toIoError(error: unknown, operation: IoOperation, path: string): QrvError {
  if (isQrvError(error)) return error;
  const errno = errnoCode(error) ?? 'EUNKNOWN';
  const reason = error instanceof Error ? error.message : String(error);
  return new QrvError(
    'io',
    `${operation}-failed`,
    `cannot ${operation} ${path}: ${errno} (${reason})`,
    HINTS[errno] ?? `the system call failed with ${errno}; check the path and the device`,
    { cause: error },
  );
}

/** Runs one fs call and converts its failure with toIoError. */
export async function ioCall<T>(operation: IoOperation, path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toIoError(error, operation, path);
  }
}

/** Writes all of `data` at `position` (a write may take less than it is given). */
export async function writeAll(handle: FileHandle, path: string, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await ioCall('write', path, () =>
      handle.write(data, done, data.length - done, position + done),
    );
    done += bytesWritten;
  }
}
