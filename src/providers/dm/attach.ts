// Attaching a dm snapshot to a volume (./dm-provider.ts): what is made before the origin is
// suspended (checked state, the COW store, -real), then the switch; undone whole on failure.
// Used for a new snapshot and, by ./activate.ts, for one attached again after a reboot.
import { QrvError } from '../../core/errors.ts';
import { failpoint } from '../../core/failpoints.ts';
import { tool } from '../../system/tools.ts';
import type { SnapshotMade, VolumeRef } from '../provider.ts';
import { mapperPath, realName, realUuid, snapshotName, snapshotUuid } from './dmsetup.ts';
import {
  create,
  deviceBytes,
  dmsetup,
  foreignDevice,
  listDevices,
  ownOrigin,
  removeDevice,
  resume,
  SECTOR,
  table,
} from './dm-calls.ts';
export const METHOD = 'dm-snapshot';
/** Chunk size of the snapshots, in 512-byte sectors (4 KiB, as LVM's default). */
const CHUNK_SECTORS = 8;

/** What is made before the origin is suspended: checked state, the COW store, -real. */
export interface Attachment {
  volume: VolumeRef;
  snapshotId: string;
  origin: string;
  sizeBytes: number;
  linear: boolean;
  name: string;
  cow: string;
  /** undoes what was made, newest first */
  undo: Array<() => Promise<void>>;
  failed: string;
}

/**
 * The part of a snapshot that needs no suspend: the origin checked, the COW store made (or
 * opened), -real made if needed. Kept out of the freeze window (prepareSnapshot). A failure
 * removes what was made.
 */
export async function prepareAttach(
  volume: VolumeRef,
  snapshotId: string,
  store: (sizeBytes: number, undo: Array<() => Promise<void>>) => Promise<string>,
  failed: string,
): Promise<Attachment> {
  const devices = await listDevices();
  const origin = await ownOrigin(volume, devices);
  const sizeBytes = await deviceBytes(mapperPath(origin.name));
  const sectors = sizeBytes / SECTOR;
  const originTable = await table(origin.name);
  const real = devices.find((d) => d.name === realName(volume.name));
  if (real && real.uuid !== realUuid(volume.name)) throw foreignDevice(real.name, real.uuid);
  const linear = originTable.target === 'linear';
  if (!linear && !(originTable.target === 'snapshot-origin' && real)) {
    throw new QrvError(
      'io',
      'dm-state',
      `${origin.name} is a ${originTable.target} device${real ? '' : ` without ${realName(volume.name)}`}: not what qrv left`,
      `look at \`dmsetup table\`; \`qrv doctor\` lists what qrv holds`,
    );
  }
  const name = snapshotName(volume.name, snapshotId);
  if (devices.some((d) => d.name === name))
    throw new QrvError(
      'refused',
      'dm-name-taken',
      `a device-mapper device named ${name} exists already`,
      `remove it with \`dmsetup remove ${name}\` if it is a left-over`,
    );
  const undo: Array<() => Promise<void>> = [];
  try {
    const cow = await store(sizeBytes, undo);
    if (!real) {
      // Linear over what the origin maps now (major:minor and offset from its live table).
      await create(realName(volume.name), realUuid(volume.name), `0 ${sectors} linear ${originTable.args.join(' ')}`);
      undo.push(() => removeDevice(realName(volume.name)));
    }
    return { volume, snapshotId, origin: origin.name, sizeBytes, linear, name, cow, undo, failed };
  } catch (error) {
    throw await undone({ volume, snapshotId, undo, failed }, error);
  }
}

/** Undoes what an attachment made and says so in the error. */
export async function undone(
  attachment: Pick<Attachment, 'volume' | 'snapshotId' | 'undo' | 'failed'>,
  error: unknown,
): Promise<unknown> {
  for (const step of attachment.undo.reverse()) await step().catch(() => undefined);
  attachment.undo.length = 0;
  if (error instanceof QrvError) {
    return new QrvError(
      error.exit,
      error.code,
      `snapshot ${attachment.snapshotId} of volume "${attachment.volume.name}" ${attachment.failed} (what was made is removed again): ${error.message}`,
      error.hint,
      { cause: error },
    );
  }
  return error;
}

/**
 * Puts the snapshot target over the origin: the origin suspended, the snapshot created over the
 * prepared COW store, the origin switched to snapshot-origin if it was linear, and resumed
 * (always). `suspendedMs` is the time from the suspend to the end of the resume. A failure
 * removes what was made (the prepared parts too).
 */
export async function finishAttach(attachment: Attachment, frozen: boolean): Promise<SnapshotMade> {
  const { volume, snapshotId, origin, sizeBytes, linear, name, cow, undo } = attachment;
  const sectors = sizeBytes / SECTOR;
  try {
    // Suspending the origin flushes its I/O and freezes a filesystem mounted on it (lockfs),
    // unless the engine froze it already (FIFREEZE, e.g. for a whole group): dm cannot freeze it
    // a second time (EBUSY), so then the suspend only flushes (--nolockfs).
    const started = process.hrtime.bigint();
    await dmsetup(frozen ? ['suspend', '--nolockfs', origin] : ['suspend', origin]);
    let reloaded = false;
    let failure: unknown;
    try {
      await failpoint('dm-before-load');
      await create(
        name,
        snapshotUuid(volume.name, snapshotId),
        `0 ${sectors} snapshot ${mapperPath(realName(volume.name))} ${cow} P ${CHUNK_SECTORS}`,
        true,
      );
      undo.push(() => removeDevice(name));
      if (linear) {
        reloaded = true;
        await dmsetup([
          'reload',
          origin,
          '--table',
          `0 ${sectors} snapshot-origin ${mapperPath(realName(volume.name))}`,
        ]);
      }
      await failpoint('dm-before-resume');
    } catch (error) {
      failure = error;
      // A failed reload leaves no inactive table; clear one anyway so that resume keeps the old.
      if (reloaded) await tool('dmsetup', ['clear', origin]).catch(() => undefined);
    }
    await resume(origin); // always; a failure here is thrown as it is (nothing undone)
    const suspendedMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (failure) throw failure;
    return { handle: name, path: mapperPath(name), sizeBytes, method: METHOD, suspendedMs };
  } catch (error) {
    if (error instanceof QrvError && error.code === 'resume-failed') throw error;
    throw await undone(attachment, error);
  }
}
