// Application objects in jobs and on the command line (F13): the volumes a sub-client
// snapshots are its own and those that hold the files of the objects it names, found at the
// time of the job (a database may have moved); `qrv app list` shows what the writers find.
import type { CatalogData, Subclient, Volume } from '../catalog/schema.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Context } from '../engine/context.ts';
import { planVolumes, planWriters, type WriterPlan } from '../engine/writer-hold.ts';
import type { Summary } from '../output/printer.ts';
import { table } from '../output/rows.ts';
import { instanceId, objectId, type Checkpoint } from '../writers/writer.ts';

/** A sub-client's volumes with those its objects span, and the plan that holds its writers. */
export async function subclientTargets(
  data: CatalogData,
  subclient: Subclient,
): Promise<{ volumes: Volume[]; plan: WriterPlan | null }> {
  const names = [...subclient.volumes];
  let plan: WriterPlan | null = null;
  if (subclient.objects?.length) {
    plan = await planWriters(data.volumes, subclient.objects);
    for (const name of planVolumes(plan)) if (!names.includes(name)) names.push(name);
  }
  return { volumes: names.map((name) => findVolume(data, name)), plan };
}

/**
 * How the group's writers are brought to rest: within the shortest hook timeout of the members,
 * with a spread checkpoint when any member's rules ask for one (the gentler on the application).
 */
export function writerOptions(members: { rules: { hookTimeoutMs: number; checkpoint: Checkpoint } }[]): {
  timeoutMs: number;
  checkpoint: Checkpoint;
} {
  return {
    timeoutMs: Math.min(...members.map((m) => m.rules.hookTimeoutMs)),
    checkpoint: members.some((m) => m.rules.checkpoint === 'spread') ? 'spread' : 'fast',
  };
}

/** Checks that each id names a writer and a well-formed object (they are found at job time). */
export async function checkObjectIds(ids: string[]): Promise<void> {
  if (!ids.length) return;
  const { parseObjectId } = await import('../writers/registry.ts');
  for (const id of ids) parseObjectId(id);
}

/** `qrv app list [OBJECT...]`: the objects the writers find on this host, and the volumes that hold them. */
export async function listApps(ctx: Context, ids: string[]): Promise<Summary> {
  const { writers } = await import('../writers/registry.ts');
  const data = await ctx.catalog.read();
  const found = [];
  if (ids.length) {
    const plan = await planWriters(data.volumes, ids);
    for (const object of plan.objects)
      found.push({ object, volumes: plan.volumesOf.get(instanceId(object.instance)) ?? [] });
  } else {
    for (const writer of writers()) {
      for (const object of await writer.discover()) {
        const plan = await planWriters(data.volumes, [objectId(object)]).catch(() => null);
        found.push({ object, volumes: plan ? planVolumes(plan) : [] });
      }
    }
  }
  const rows = found.map(({ object, volumes }) => ({
    id: objectId(object),
    writer: object.instance.writer,
    instance: object.instance.name,
    name: object.name,
    paths: object.instance.paths,
    volumes,
  }));
  return {
    data: { objects: rows },
    lines: rows.length
      ? table(
          ['OBJECT', 'VOLUMES', 'FILES'],
          rows.map((r) => [r.id, r.volumes.join(' ') || '- (on no volume qrv knows)', r.paths.join(' ')]),
        )
      : [
          'no application objects found (PostgreSQL: is a cluster running? SQLite: name files with `qrv app list sqlite:/path/*.db`)',
        ],
  };
}

/** `qrv app writers`: the writers qrv has. */
export async function listWriters(): Promise<Summary> {
  const { writers } = await import('../writers/registry.ts');
  const rows = writers().map((w) => ({ name: w.name, summary: w.summary }));
  return {
    data: { writers: rows },
    lines: table(
      ['WRITER', 'OBJECTS'],
      rows.map((r) => [r.name, r.summary]),
    ),
  };
}
