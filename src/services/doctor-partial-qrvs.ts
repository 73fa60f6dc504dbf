// `qrv doctor`'s look for QRVs that never held a point in time: a first copy that failed (a full
// destination: ENOSPC mid-copy) or was killed, whose job can no longer resume it (run removed the
// snapshot after the failed copy). Its image holds part of a copy and nothing else, and occupies
// the very space that was short. A QRV that was ready once (its history has a copy) is never
// touched here: its file holds an older point in time. A copy that can still be resumed is the
// job findings' (resume it). --fix removes it as `qrv remove` does: the row marked removed, its
// pool member given back, the file and its ledger deleted.
import fs from 'node:fs/promises';
import type { CatalogData } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import type { Context } from '../engine/context.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { resumeBlocker } from './copy.ts';
import type { Planned } from './doctor-findings.ts';
import { removeQrv } from './remove-qrv.ts';

export async function partialQrvFindings(ctx: Context, data: CatalogData): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const qrv of data.qrvs) {
    // `copying` with no live job: killed, and marked failed by the dead-job finding before this one's fix runs.
    if ((qrv.state !== 'failed' && qrv.state !== 'copying') || qrv.destinationKind !== 'file' || qrv.history.length > 0)
      continue;
    const jobs = data.jobs.filter((j) => j.qrvId === qrv.id);
    if (jobs.some((j) => jobAlive(j) || resumeBlocker(data, j) === null)) continue;
    const st = await fs.lstat(qrv.destination).catch(() => null);
    if (!st?.isFile()) continue;
    planned.push({
      finding: {
        kind: 'partial-qrv',
        subject: qrv.id,
        what: `QRV ${qrv.id} of ${qrv.volume} ${qrv.state === 'failed' ? 'failed' : 'was killed'} before its first copy was complete and no job can resume it: ${qrv.destination} holds ${formatBytes(st.blocks * 512)} of an incomplete copy`,
        action: `delete it and mark the QRV removed (qrv remove ${qrv.id})`,
        fixed: false,
        error: null,
      },
      fix: () => removeQrv(ctx, { qrvId: qrv.id, keepData: false }),
    });
  }
  return planned;
}
