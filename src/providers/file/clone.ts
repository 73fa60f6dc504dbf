// Makes the snapshot file: a reflink clone (FICLONE) when the filesystem has them, otherwise a
// sparse-aware block copy. Returns which, for the snapshot row.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { QrvError } from '../../core/errors.ts';
import { copyImage } from '../../copy/block-copy.ts';

/** errno codes with which FICLONE says "not here" (ext4, tmpfs, across filesystems). */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

export type CloneMethod = 'reflink' | 'sparse-copy';

export async function cloneImage(source: string, target: string, sizeBytes: number): Promise<CloneMethod> {
  try {
    await fs.copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    return 'reflink';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EPERM') {
      const dir = path.dirname(target);
      throw new QrvError('io', 'snapshot-store', `cannot create snapshot file ${target}: the snapshot store ${dir} is immutable or append-only (EPERM)`, `see \`lsattr -d ${dir}\`; \`chattr -i -a ${dir}\`, or re-add the volume with another --snapshot-dir`, { cause: error });
    }
    if (!NO_REFLINK.has(code)) throw error;
    await fs.rm(target, { force: true });
  }
  const handle = await fs.open(target, 'wx', 0o600);
  await handle.close();
  try {
    await copyImage({ source, destination: target, sizeBytes, destinationKind: 'file' });
  } catch (error) {
    await fs.rm(target, { force: true });
    throw error;
  }
  return 'sparse-copy';
}
