// Application writers in a job (F13): the objects a sub-client names are found, mapped to the
// volumes whose filesystems hold their files (through mounts, loop devices, device-mapper), held
// at rest from just before the group's freeze until every snapshot of the group is taken, and
// recorded in the snapshot rows of the volumes that hold them.
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { AppObject, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import {
  instanceId,
  objectId,
  type Hold,
  type HoldOptions,
  type HoldRecord,
  type WriterInstance,
  type WriterObject,
} from '../writers/writer.ts';
import { freezeTargets } from './freeze-bound.ts';
import type { JobRecorder } from './job-recorder.ts';

export interface WriterPlan {
  objects: WriterObject[];
  instances: WriterInstance[];
  /** instance id → the names of the volumes that hold its files */
  volumesOf: Map<string, string[]>;
  /** instance id → where each of its paths is */
  placesOf: Map<string, Place[]>;
}

const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** A path's real path: links resolved, or its nearest existing folder's and the rest as named. */
async function realPathOf(file: string): Promise<string | null> {
  for (let at = file, rest = ''; ; ) {
    const real = await realpath(at).catch(() => null);
    if (real !== null) return rest ? path.join(real, rest) : real;
    if (at === path.dirname(at)) return null;
    rest = rest ? path.join(path.basename(at), rest) : path.basename(at);
    at = path.dirname(at);
  }
}

/** The mount point whose filesystem holds `file` (the longest that contains its real path), and that real path. */
export async function mountHolding(
  file: string,
  mounts?: string,
): Promise<{ mountpoint: string; real: string } | null> {
  const real = await realPathOf(file);
  if (!real) return null;
  const text = mounts ?? (await readFile('/proc/self/mounts', 'utf8').catch(() => ''));
  let best: string | null = null;
  for (const line of text.split('\n')) {
    const point = line.split(' ')[1];
    if (!point) continue;
    const mountpoint = unescape(point);
    const inside = mountpoint === '/' || real === mountpoint || real.startsWith(`${mountpoint}/`);
    if (inside && (best === null || mountpoint.length >= best.length)) best = mountpoint;
  }
  return best === null ? null : { mountpoint: best, real };
}

export interface Place {
  path: string;
  volume: string;
  /** the path inside the volume's filesystem, from its root: "/pg/data" */
  inside: string;
}

/** The catalog's volume whose mounted filesystem holds `file`, and where in it; null when none does. */
async function placeOf(volumes: Volume[], file: string): Promise<Place | null> {
  const held = await mountHolding(file);
  if (!held) return null;
  for (const volume of volumes) {
    const { mountpoints } = await freezeTargets(volume, volume.provider === 'file' ? 'file' : 'block');
    if (mountpoints.includes(held.mountpoint))
      return { path: file, volume: volume.name, inside: path.join('/', path.relative(held.mountpoint, held.real)) };
  }
  return null;
}

/** Finds the objects `ids` name and the volumes that hold them; refuses an object none holds. */
export async function planWriters(volumes: Volume[], ids: string[]): Promise<WriterPlan> {
  // loaded here, not at the top: a job without objects does not load the writers
  const { parseObjectId } = await import('../writers/registry.ts');
  const objects: WriterObject[] = [];
  for (const id of ids) {
    const { writer, pattern } = parseObjectId(id);
    const found = await writer.find(pattern);
    if (!found.length)
      throw new QrvError(
        'notFound',
        'unknown-object',
        `no application object ${id} is on this host`,
        `list what qrv finds with \`qrv app list\`${writer.name === 'postgresql' ? ' (is the cluster running?)' : ''}`,
      );
    for (const object of found) if (!objects.some((o) => objectId(o) === objectId(object))) objects.push(object);
  }
  const instances = [...new Map(objects.map((o) => [instanceId(o.instance), o.instance])).values()];
  const volumesOf = new Map<string, string[]>();
  const placesOf = new Map<string, Place[]>();
  for (const instance of instances) {
    const names: string[] = [];
    const places: Place[] = [];
    for (const file of instance.paths) {
      const place = await placeOf(volumes, file);
      if (!place)
        throw new QrvError(
          'refused',
          'object-unmapped',
          `${file} (of ${instanceId(instance)}) is on no volume qrv knows`,
          'add the volume whose filesystem holds it with `qrv volume add`, so that it is snapshotted with the rest',
        );
      places.push(place);
      if (!names.includes(place.volume)) names.push(place.volume);
    }
    volumesOf.set(instanceId(instance), names);
    placesOf.set(instanceId(instance), places);
  }
  return { objects, instances, volumesOf, placesOf };
}

/** Every volume the plan's objects span. */
export function planVolumes(plan: WriterPlan): string[] {
  return [...new Set([...plan.volumesOf.values()].flat())];
}

/** The writers of a plan, held at rest; release() lets all go and says what each recorded. */
export class HeldWriters {
  private constructor(private readonly holds: Hold[]) {}

  /** Brings every instance to rest, in order; a failure lets go of those already held and throws. */
  static async hold(plan: WriterPlan, options: HoldOptions): Promise<HeldWriters> {
    const { getWriter } = await import('../writers/registry.ts');
    const holds: Hold[] = [];
    try {
      for (const instance of plan.instances) holds.push(await getWriter(instance.writer).hold(instance, options));
    } catch (error) {
      for (const held of holds.reverse()) await held.abandon();
      throw error;
    }
    return new HeldWriters(holds);
  }

  methods(): string[] {
    return this.holds.map((h) => `${instanceId(h.instance)}: ${h.method}`);
  }

  /** Lets every instance go; the first failure is thrown after all were let go. */
  async release(): Promise<Map<string, HoldRecord>> {
    const records = new Map<string, HoldRecord>();
    let failure: unknown = null;
    for (const held of this.holds) {
      const record = await held.release().catch((error: unknown) => {
        failure ??= error;
        return null;
      });
      if (record) records.set(instanceId(held.instance), record);
    }
    if (failure) throw failure;
    return records;
  }

  async abandon(): Promise<void> {
    for (const held of this.holds) await held.abandon();
  }
}

/** The rows of `volume`'s snapshot: each object of an instance that volume holds. */
export function objectRows(plan: WriterPlan, records: Map<string, HoldRecord>, volume: string): AppObject[] {
  return plan.objects
    .filter((o) => plan.volumesOf.get(instanceId(o.instance))?.includes(volume))
    .map((o) => {
      const record = records.get(instanceId(o.instance));
      return {
        writer: o.instance.writer,
        instance: o.instance.name,
        name: o.name,
        paths: o.instance.paths,
        places: plan.placesOf.get(instanceId(o.instance)) ?? [],
        position: record?.position ?? null,
        files: record?.files ?? {},
      };
    });
}

/**
 * The writers of one group's snapshot: held (as a step of the group's first job) when every
 * member is ready to freeze, let go when every member's snapshot phase has ended.
 */
export class GroupWriters {
  private held: HeldWriters | null = null;

  constructor(
    private readonly plan: WriterPlan | undefined,
    private readonly job: JobRecorder | undefined,
    private readonly options: HoldOptions,
  ) {}

  readonly beforeFreeze = async (): Promise<void> => {
    const { plan, job } = this;
    if (!plan || !job || !plan.instances.length) return;
    this.held = await job.step(
      'snapshot',
      'hold writers',
      () => HeldWriters.hold(plan, this.options),
      (held) => held.methods().join('; '),
    );
  };

  /** Lets go: abandoned when the group failed; else released, and a failure to hold to the end is returned as the group's error. */
  async end(groupFailed: boolean): Promise<{ records: Map<string, HoldRecord>; error: unknown }> {
    const records = new Map<string, HoldRecord>();
    const { held, job } = this;
    this.held = null;
    if (!held || !job) return { records, error: null };
    if (groupFailed) {
      await held.abandon();
      return { records, error: null };
    }
    try {
      const got = await job.step(
        'snapshot',
        'release writers',
        () => held.release(),
        (r) => [...r].map(([id, record]) => `${id}${record.position ? ` at ${record.position}` : ''}`).join('; '),
      );
      return { records: got, error: null };
    } catch (error) {
      return { records, error };
    }
  }
}
