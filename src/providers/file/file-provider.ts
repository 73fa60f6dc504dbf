// The `file` provider, the embedded default that needs no root: a volume is an image file and a
// snapshot is a read-only clone of it in a snapshot store on the same filesystem (by default
// `.qrv-snapshots/` beside the image). Where the filesystem can reflink (XFS, btrfs) the clone
// takes constant time whatever the size; elsewhere (ext4) it falls back to a sparse-aware copy
// and the snapshot row says so, because the I/O suspension then lasts as long as the copy.
// Between two reflink snapshots, what changed is read from their extent maps: the blocks they
// still share are the blocks nobody wrote in between.
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError, errnoCode, isQrvError } from '../../core/errors.ts';
import { changedRanges as compareMaps, fileExtents } from '../../system/extent-map.ts';
import { type ByteRange } from '../../core/byte-range.ts';
import { writerNames } from '../../system/writers.ts';
import type {
  CreateOptions,
  HeldSnapshot,
  Provider,
  SnapshotMade,
  SnapshotRef,
  VolumeFacts,
  VolumeRef,
} from '../provider.ts';
import { canClone, cloneImage, tornError } from './clone.ts';
import { checkStore, openStore } from './store.ts';

const STORE_OPTION = 'snapshotDir';

function storeOf(volume: VolumeRef): string {
  return volume.options[STORE_OPTION] ?? path.join(path.dirname(volume.path), '.qrv-snapshots');
}

function snapshotFile(volume: VolumeRef, snapshotId: string): string {
  return path.join(storeOf(volume), `${volume.name}@${snapshotId}.img`);
}

async function inspect(volume: VolumeRef): Promise<VolumeFacts> {
  let st;
  try {
    st = await fs.stat(volume.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new QrvError(
      'io',
      'volume-missing',
      `volume "${volume.name}": cannot use ${volume.path} (${code ?? (error as Error).message})`,
      code === 'ENOENT'
        ? `put the image file back, or remove the volume with \`qrv volume remove ${volume.name}\``
        : 'check the path and its permissions',
    );
  }
  if (!st.isFile()) {
    throw new QrvError(
      'usage',
      'not-an-image',
      `volume "${volume.name}": ${volume.path} is not a regular file`,
      'the file provider takes image files; for a logical volume use --provider lvm, for any other block device --provider dm --device',
    );
  }
  return { sizeBytes: st.size, kind: 'file' };
}

/** Folders mkdir made for this snapshot (from `store` up to `made`), removed when they are still empty. */
async function removeMadeFolders(store: string, made: string | undefined): Promise<void> {
  if (made === undefined) return;
  for (let dir = store; dir.startsWith(made); dir = path.dirname(dir)) {
    if (
      !(await fs.rmdir(dir).then(
        () => true,
        () => false,
      )) ||
      dir === made
    )
      return;
  }
}

/** A full snapshot store says so: the copy engine's own hint speaks of "the destination". */
function storeError(error: unknown, store: string): unknown {
  const code = errnoCode(isQrvError(error) ? error.cause : error);
  if (code === 'EPERM') {
    return new QrvError(
      'io',
      'snapshot-store',
      `cannot create a snapshot file: the snapshot store ${store} is immutable or append-only (EPERM)`,
      `see \`lsattr -d ${store}\`; \`chattr -i -a ${store}\`, or re-add the volume with another --snapshot-dir`,
      { cause: error },
    );
  }
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return error;
  return new QrvError(
    'io',
    'snapshot-store-full',
    `the snapshot store ${store} is full (${code}): the snapshot did not fit and was removed`,
    'free space there, or re-add the volume with --snapshot-dir on a filesystem with room for a copy of the volume',
  );
}

/**
 * Snapshot files are 0400, owned by qrv's user: a snapshot of a volume is readable by no one who
 * could not already read everything qrv can (issue 12), and nobody can change it.
 */
const SNAPSHOT_MODE = 0o400;

async function createSnapshot(volume: VolumeRef, snapshotId: string, options?: CreateOptions): Promise<SnapshotMade> {
  const { sizeBytes } = await inspect(volume);
  const store = await openStore(storeOf(volume));
  let kept = false;
  try {
    const target = snapshotFile(volume, snapshotId);
    const started = process.hrtime.bigint();
    const made = await cloneImage(volume.path, store.entry(path.basename(target)), sizeBytes, SNAPSHOT_MODE).catch(
      (error: unknown) => {
        throw storeError(error, storeOf(volume));
      },
    );
    const suspendedMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (made.torn && !options?.allowInconsistent) {
      await store.remove(path.basename(target));
      throw tornError(volume.name, volume.path, made.writers);
    }
    const who = made.writers.length ? ` (open for writing by ${writerNames(made.writers)})` : '';
    kept = true;
    return {
      handle: target,
      path: target,
      sizeBytes,
      method: made.method,
      suspendedMs,
      consistency: made.torn ? 'crash-torn' : 'atomic',
      ...(made.copyRate ? { copyRate: made.copyRate } : {}),
      ...(made.torn
        ? {
            warning: `${volume.path} changed while it was copied${who}: kept as crash-torn because --allow-inconsistent was given; it is no single point in time`,
          }
        : {}),
    };
  } finally {
    await store.close();
    if (!kept) await removeMadeFolders(storeOf(volume), store.made);
  }
}

/** Bytes a snapshot has to copy (the image's allocated size), or null when the store can clone it. */
async function copyEstimate(volume: VolumeRef): Promise<{ bytes: number } | null> {
  const st = await fs.stat(volume.path);
  const store = await openStore(storeOf(volume));
  try {
    return (await canClone(volume.path, store.dir)) ? null : { bytes: st.blocks * 512 };
  } finally {
    // a probe changes nothing: a store made for it goes again (the snapshot makes its own)
    await store.close();
    await removeMadeFolders(storeOf(volume), store.made);
  }
}

async function removeSnapshot(volume: VolumeRef, handle: string): Promise<void> {
  // Only ever delete inside this volume's own store: a catalog row is not trusted to name any file.
  const store = path.resolve(storeOf(volume));
  if (path.dirname(path.resolve(handle)) !== store || !path.basename(handle).startsWith(`${volume.name}@`)) {
    throw new QrvError(
      'refused',
      'foreign-handle',
      `snapshot file ${handle} is not in the snapshot store ${store} of volume "${volume.name}"`,
      'remove it by hand if it is really a qrv snapshot',
    );
  }
  // unlink, not rm: rm retries an EPERM as a folder and reports ENOTDIR for an immutable file
  await fs.unlink(handle).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return;
    if (error.code === 'EPERM') {
      throw new QrvError(
        'io',
        'snapshot-remove-failed',
        `cannot remove snapshot file ${handle}: it (or its folder) is immutable or append-only (EPERM)`,
        `see \`lsattr -d ${handle} ${path.dirname(handle)}\`; \`chattr -i -a\` it if it should go, then run the command again`,
      );
    }
    throw new QrvError(
      'io',
      'snapshot-remove-failed',
      `cannot remove snapshot file ${handle} (${error.code ?? error.message})`,
      "check the folder's permissions",
    );
  });
}

async function listSnapshots(volume: VolumeRef): Promise<HeldSnapshot[]> {
  const store = storeOf(volume);
  let names: string[];
  try {
    names = await fs.readdir(store);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const prefix = `${volume.name}@`;
  return names
    .filter((name) => name.startsWith(prefix) && name.endsWith('.img'))
    .sort()
    .map((name) => {
      const file = path.join(store, name);
      return { handle: file, path: file, snapshotId: name.slice(prefix.length, -'.img'.length) };
    });
}

/**
 * Which bytes of `to` may differ from `from`, from the two clones' extent maps (FIEMAP through
 * filefrag); null unless both are reflink clones on one filesystem whose maps can be read and
 * whose sizes are those recorded. A clone has no dirty pages (FICLONE flushes the volume first),
 * so its map has no delayed allocations; any extent whose location is unreliable counts as changed.
 */
async function changedRanges(_volume: VolumeRef, from: SnapshotRef, to: SnapshotRef): Promise<ByteRange[] | null> {
  if (from.method !== 'reflink' || to.method !== 'reflink') return null;
  const [fromStat, toStat] = await Promise.all([
    fs.stat(from.path).catch(() => null),
    fs.stat(to.path).catch(() => null),
  ]);
  // Physical offsets only compare within one filesystem.
  if (!fromStat?.isFile() || !toStat?.isFile() || fromStat.dev !== toStat.dev) return null;
  if (fromStat.size !== from.sizeBytes || toStat.size !== to.sizeBytes) return null;
  const [a, b] = await Promise.all([fileExtents(from.path), fileExtents(to.path)]);
  if (!a || !b || a.sizeBytes !== from.sizeBytes || b.sizeBytes !== to.sizeBytes) return null;
  return compareMaps(a, b);
}

export const fileProvider: Provider = {
  name: 'file',
  description:
    'image files; snapshots are reflink clones (XFS, btrfs) or sparse copies (ext4) in a store beside the image',
  inspect,
  defaultOptions: (imagePath) => ({
    [STORE_OPTION]: path.join(path.dirname(path.resolve(imagePath)), '.qrv-snapshots'),
  }),
  copyEstimate,
  checkSnapshot: (volume) => checkStore(storeOf(volume)),
  createSnapshot,
  removeSnapshot,
  listSnapshots,
  changedRanges,
};
