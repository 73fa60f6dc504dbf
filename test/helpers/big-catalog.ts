// A large, real-shaped catalog for the history and upgrade tests: a small catalog that qrv itself
// made (volume add, snap, run, unsnap on a real image), whose snapshot and job rows are then
// repeated with new ids and times spread back over months, written as the schema version asked.
// Nothing large is committed: the fixture is made by each test.
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv } from './cli.ts';
import { sparseFile } from './tmp.ts';

export interface Seed {
  catalog: Record<string, any>;
  image: string;
}

/** A small catalog made by qrv: one file volume with a ready snapshot, a removed one, a QRV, and their jobs. */
export async function seedCatalog(dir: string): Promise<Seed> {
  const home = path.join(dir, 'seed-home');
  const image = await sparseFile(path.join(dir, 'vol.img'), 4 << 20);
  const must = async (args: string[]) => {
    const run = await qrv(home, args);
    if (run.exitCode !== 0) throw new Error(`qrv ${args.join(' ')}: ${run.stderr}`);
    return run;
  };
  await must(['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  await must(['snap', 'vol']);
  await must(['run', 'vol', '--to', path.join(dir, 'vol.qrv.img')]);
  await must(['snap', 'vol', '--label', 'keep']);
  const catalog = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')) as Record<string, any>;
  return { catalog, image };
}

const hex = (n: number) => n.toString(16).padStart(8, '0');

/**
 * The seed with `count` finished jobs and `count` removed snapshots (copies of its own rows, new
 * ids j-/s-1xxxxxxx, one every `stepMinutes` back from `now`), and `live` more ready snapshots.
 */
export function inflate(
  seed: Record<string, any>,
  options: { count: number; live?: number; now: Date; stepMinutes?: number; version: number },
): Record<string, any> {
  const catalog = structuredClone(seed);
  const jobs = catalog.jobs.filter((j: any) => j.state === 'succeeded');
  const snap = catalog.snapshots.find((s: any) => s.state === 'ready');
  if (!jobs.length || !snap) throw new Error('the seed catalog has no finished job or ready snapshot');
  const step = (options.stepMinutes ?? 60) * 60_000;
  for (let i = 0; i < options.count; i += 1) {
    const at = new Date(options.now.getTime() - (i + 1) * step).toISOString();
    const job = structuredClone(jobs[i % jobs.length]);
    Object.assign(job, {
      id: `j-${hex(0x10000000 + i)}`,
      startedAt: at,
      endedAt: at,
      snapshotId: `s-${hex(0x10000000 + i)}`,
    });
    for (const s of job.steps) Object.assign(s, { startedAt: at, endedAt: at });
    catalog.jobs.push(job);
    catalog.snapshots.push({
      ...structuredClone(snap),
      id: `s-${hex(0x10000000 + i)}`,
      createdAt: at,
      state: 'removed',
      removedAt: at,
      jobId: job.id,
      label: null,
      pinned: false,
      persistUntil: null,
    });
  }
  for (let i = 0; i < (options.live ?? 0); i += 1) {
    const at = new Date(options.now.getTime() - (i + 1) * 60_000).toISOString();
    catalog.snapshots.push({
      ...structuredClone(snap),
      id: `s-${hex(0x20000000 + i)}`,
      createdAt: at,
      label: null,
      pinned: false,
    });
  }
  catalog.schemaVersion = options.version;
  if (options.version < 5 && catalog.settings) delete catalog.settings.historyRetention;
  return catalog;
}
