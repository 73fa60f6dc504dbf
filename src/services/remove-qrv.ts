// `qrv remove QRV`: the QRV's row is marked removed and its pool member given back in one
// catalog transaction; then its image file is deleted (unless --keep-data). The catalog goes
// first: a crash in between leaves a stray file, never a row that points at nothing.
import { plainCopy } from '../catalog/tracked.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Qrv } from '../catalog/schema.ts';
import { errnoCode, QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { refuseWhileHydrating } from '../engine/recovery-state.ts';
import { findQrv } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { releaseMember } from '../pools/reserve.ts';

export interface RemoveQrvRequest {
  qrvId: string;
  /** keep the image file (a block device's data is never touched) */
  keepData: boolean;
}

/** The QRV, if it can be removed now: not removed already, and no live job copying or reading it. */
function removable(data: CatalogData, id: string): Qrv {
  const qrv = findQrv(data, id);
  if (qrv.state === 'removed')
    throw new QrvError('refused', 'qrv-removed', `QRV ${id} was removed already`, 'see it with `qrv list --all`');
  // Its data is (or was) a volume's primary: qrv never deletes it.
  if (qrv.state === 'promoted')
    throw new QrvError(
      'refused',
      'qrv-promoted',
      `QRV ${id} was promoted (${qrv.updatedAt}): ${qrv.destination} is, or was, the primary of "${qrv.volume}"`,
      'qrv never deletes a primary; delete it by hand once nothing needs it',
    );
  refuseWhileHydrating(data, qrv.volume, `cannot remove QRV ${id}`, id);
  const busy = data.jobs.find((j) => j.qrvId === id && jobAlive(j));
  if (busy) {
    const what = qrv.state === 'copying' ? 'is being copied' : 'is in use';
    throw new QrvError(
      'busy',
      'qrv-busy',
      `QRV ${id} ${what} by job ${busy.id} (${busy.kind}, pid ${busy.pid})`,
      'wait for that job to finish',
    );
  }
  return qrv;
}

/** What happens to the data: the file to delete, or why nothing is deleted. */
async function planData(qrv: Qrv, keepData: boolean): Promise<{ remove: string | null; note: string }> {
  if (qrv.destinationKind === 'block')
    return { remove: null, note: `the data on block device ${qrv.destination} is left as it is` };
  if (keepData) return { remove: null, note: `its image ${qrv.destination} is kept (--keep-data)` };
  const st = await fs.lstat(qrv.destination).catch(() => null);
  if (!st) return { remove: null, note: `its image ${qrv.destination} was gone already` };
  if (!st.isFile())
    return { remove: null, note: `${qrv.destination} is no longer a regular file, so it is left as it is` };
  const folder = path.dirname(qrv.destination);
  await fs.access(folder, fs.constants.W_OK).catch((error: unknown) => {
    throw new QrvError(
      'io',
      'delete-failed',
      `cannot delete ${qrv.destination}: folder ${folder} is not writable (${errnoCode(error) ?? 'error'})`,
      'run as a user who may delete it, or add --keep-data; nothing was changed',
    );
  });
  return { remove: qrv.destination, note: `deleted its image ${qrv.destination}` };
}

export async function removeQrv(ctx: Context, request: RemoveQrvRequest): Promise<Summary> {
  const plan = await planData(removable(await ctx.catalog.read(), request.qrvId), request.keepData);
  const { qrv, released } = await ctx.catalog.update((data) => {
    const row = removable(data, request.qrvId);
    row.state = 'removed';
    row.updatedAt = ctx.now().toISOString();
    return { qrv: plainCopy(row), released: releaseMember(data, row.id) };
  });
  if (plan.remove) {
    await fs.rm(plan.remove, { force: true }).catch((error: unknown) => {
      throw new QrvError(
        'io',
        'delete-failed',
        `QRV ${qrv.id} is marked removed but its image ${plan.remove} could not be deleted (${errnoCode(error) ?? (error as Error).message})`,
        'delete the file by hand',
      );
    });
  }
  // The ledger goes with the image; a device QRV's ledger (in the qrv home) has nothing left to describe.
  if (qrv.ledger && (plan.remove || qrv.destinationKind === 'block')) {
    for (const file of [qrv.ledger, `${qrv.ledger}.partial`, `${qrv.ledger}.undo`, `${qrv.ledger}.before`])
      await fs.rm(file, { force: true }).catch(() => undefined);
  }
  const lines = [`removed QRV ${qrv.id} of ${qrv.volume}; ${plan.note}`];
  if (released) lines.push(`gave member ${released.member.path} back to pool ${released.pool}`);
  return {
    data: {
      qrv,
      deletedPath: plan.remove,
      releasedMember: released ? { pool: released.pool, path: released.member.path } : null,
    },
    lines,
  };
}
