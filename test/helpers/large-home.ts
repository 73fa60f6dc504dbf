// Grows a real home to a large one with qrv's own store: the snapshot and job rows that real
// commands made are copied under new ids (as the measurements did), so the rows are
// whatever today's schema says they are.
import { plainCopy } from '../../src/catalog/tracked.ts';
import { Catalog } from '../../src/catalog/store.ts';

/** Adds `count` copies of the home's first snapshot row and of its first job row; returns the new snapshot ids. */
export async function growHome(home: string, count: number): Promise<string[]> {
  const catalog = await Catalog.open(home);
  return catalog.update((data) => {
    const snapshot = data.snapshots[0];
    const job = data.jobs[0];
    if (!snapshot || !job) throw new Error('growHome needs a home with one snapshot and one job');
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const hex = (0x10000000 + i).toString(16);
      ids.push(`s-${hex}`);
      data.snapshots.push({ ...plainCopy(snapshot), id: `s-${hex}`, jobId: `j-${hex}` });
      data.jobs.push({ ...plainCopy(job), id: `j-${hex}`, snapshotId: `s-${hex}` });
    }
    return ids;
  });
}
