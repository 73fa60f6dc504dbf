// Application writers in a job (F13): the objects a sub-client names are found, mapped to the
// volumes whose filesystems hold their files (through mounts, loop devices, device-mapper), held
// at rest from just before the group's freeze until every snapshot of the group is taken, and
// recorded in the snapshot rows of the volumes that hold them.
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { AppObject, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { getWriter, parseObjectId } from '../writers/registry.ts';
import {
  instanceId,
  objectId,
  type Hold,
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
}

const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The mount point whose filesystem holds `file` (the longest that contains its real path, or its nearest existing folder's). */
export async function mountHolding(file: string, mounts?: string): Promise<string | null> {
  let real: string | null = null;
  for (let at = file; real === null; at = path.dirname(at)) {
    real = await realpath(at).catch(() => null);
    if (at === path.dirname(at)) break;
  }
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
  return best;
}

/** The catalog's volume whose mounted filesystem holds `file`, or null. */
async function volumeHolding(volumes: Volume[], file: string): Promise<Volume | null> {
  const mountpoint = await mountHolding(file);
  if (!mountpoint) return null;
  for (const volume of volumes) {
    const { mountpoints } = await freezeTargets(volume, volume.provider === 'file' ? 'file' : 'block');
    if (mountpoints.includes(mountpoint)) return volume;
  }
  return null;
}

/** Finds the objects `ids` name and the volumes that hold them; refuses an object none holds. */
export async function planWriters(volumes: Volume[], ids: string[]): Promise<WriterPlan> {
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
  for (const instance of instances) {
    const names: string[] = [];
    for (const file of instance.paths) {
      const volume = await volumeHolding(volumes, file);
      if (!volume)
        throw new QrvError(
          'refused',
          'object-unmapped',
          `${file} (of ${instanceId(instance)}) is on no volume qrv knows`,
          'add the volume whose filesystem holds it with `qrv volume add`, so that it is snapshotted with the rest',
        );
      if (!names.includes(volume.name)) names.push(volume.name);
    }
    volumesOf.set(instanceId(instance), names);
  }
  return { objects, instances, volumesOf };
}

/** Every volume the plan's objects span. */
export function planVolumes(plan: WriterPlan): string[] {
  return [...new Set([...plan.volumesOf.values()].flat())];
}

/** The writers of a plan, held at rest; release() lets all go and says what each recorded. */
export class HeldWriters {
  private constructor(private readonly holds: Hold[]) {}

  /** Brings every instance to rest, in order; a failure lets go of those already held and throws. */
  static async hold(plan: WriterPlan, options: { label: string; timeoutMs: number }): Promise<HeldWriters> {
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
    private readonly options: { label: string; timeoutMs: number },
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
