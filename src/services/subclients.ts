// `qrv subclient add|set|show|list|remove`: named sets of volumes snapshotted together (F5).
// They may overlap. The `default` sub-client always exists and gains every new volume.
import { plainCopy } from '../catalog/tracked.ts';
import { DEFAULT_SUBCLIENT, type CatalogData, type Subclient } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import { findVolume } from '../catalog/lookup.ts';
import type { Summary } from '../output/printer.ts';
import { details, table } from '../output/rows.ts';
import { findPolicy, findSubclient } from '../policy/resolve.ts';
import { checkObjectIds } from './app-objects.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface SubclientChanges {
  volumes?: string[];
  addVolumes?: string[];
  removeVolumes?: string[];
  /** a policy name, or "none" */
  policy?: string;
  /** application objects: "postgresql:main/billing" (F13) */
  objects?: string[];
  addObjects?: string[];
  removeObjects?: string[];
}

function apply(data: CatalogData, row: Subclient, changes: SubclientChanges): void {
  for (const name of [...(changes.volumes ?? []), ...(changes.addVolumes ?? [])]) findVolume(data, name);
  if (changes.volumes) row.volumes = [...new Set(changes.volumes)];
  for (const name of changes.addVolumes ?? []) if (!row.volumes.includes(name)) row.volumes.push(name);
  if (changes.removeVolumes) row.volumes = row.volumes.filter((v) => !changes.removeVolumes!.includes(v));
  applyObjects(row, changes);
  if (changes.policy !== undefined) {
    if (/^none$/i.test(changes.policy)) row.policy = null;
    else row.policy = findPolicy(data, changes.policy).name;
  }
}

function applyObjects(row: Subclient, changes: SubclientChanges): void {
  let objects = row.objects ?? [];
  if (changes.objects) objects = [...new Set(changes.objects)];
  for (const id of changes.addObjects ?? []) if (!objects.includes(id)) objects.push(id);
  if (changes.removeObjects) objects = objects.filter((id) => !changes.removeObjects!.includes(id));
  if (objects.length) row.objects = objects;
  else delete row.objects;
}

export async function addSubclient(ctx: Context, name: string, changes: SubclientChanges): Promise<Summary> {
  await checkObjectIds([...(changes.objects ?? []), ...(changes.addObjects ?? [])]);
  if (!NAME.test(name))
    throw new QrvError(
      'usage',
      'bad-subclient-name',
      `sub-client name "${name}" is not allowed`,
      'use letters, digits, ".", "_" and "-"',
    );
  const row = await ctx.catalog.update((data) => {
    if (data.subclients.some((s) => s.name === name))
      throw new QrvError(
        'refused',
        'subclient-exists',
        `a sub-client named "${name}" exists already`,
        `change it with \`qrv subclient set ${name}\``,
      );
    if (data.volumes.some((v) => v.name === name))
      throw new QrvError(
        'refused',
        'name-is-volume',
        `"${name}" is a volume's name`,
        'sub-clients and volumes share names in `qrv run`; choose another',
      );
    const subclient: Subclient = { name, volumes: [], policy: null, createdAt: ctx.now().toISOString() };
    apply(data, subclient, changes);
    data.subclients.push(subclient);
    return subclient;
  });
  return { data: { subclient: row }, lines: [`added sub-client ${name}`, ...details(row)] };
}

export async function setSubclient(ctx: Context, name: string, changes: SubclientChanges): Promise<Summary> {
  await checkObjectIds([...(changes.objects ?? []), ...(changes.addObjects ?? [])]);
  if (Object.values(changes).every((v) => v === undefined))
    throw new QrvError(
      'usage',
      'nothing-to-set',
      'nothing to change',
      'give --volume, --add, --remove, --policy, --object, --add-object or --remove-object',
    );
  const row = await ctx.catalog.update((data) => {
    const subclient = findSubclient(data, name);
    apply(data, subclient, changes);
    return plainCopy(subclient);
  });
  return { data: { subclient: row }, lines: details(row) };
}

export async function showSubclient(ctx: Context, name: string): Promise<Summary> {
  const subclient = findSubclient(await ctx.catalog.read(), name);
  return { data: { subclient }, lines: details(subclient) };
}

export async function listSubclients(ctx: Context): Promise<Summary> {
  const { subclients } = await ctx.catalog.read();
  return {
    data: { subclients },
    lines: table(
      ['SUB-CLIENT', 'POLICY', 'VOLUMES', 'OBJECTS'],
      subclients.map((s) => [s.name, s.policy ?? '-', s.volumes.join(' ') || '-', s.objects?.join(' ') || '-']),
    ),
  };
}

export async function removeSubclient(ctx: Context, name: string): Promise<Summary> {
  if (name === DEFAULT_SUBCLIENT)
    throw new QrvError(
      'refused',
      'default-subclient',
      'the default sub-client cannot be removed',
      'take volumes out of it with `qrv subclient set default --remove VOLUME`',
    );
  await ctx.catalog.update((data) => {
    findSubclient(data, name);
    data.subclients = data.subclients.filter((s) => s.name !== name);
  });
  return { data: { subclient: name }, lines: [`removed sub-client ${name} (its volumes and snapshots are untouched)`] };
}

/** Puts a new volume into the default sub-client (inside a catalog transaction). */
export function joinDefault(data: CatalogData, volume: string): void {
  let row = data.subclients.find((s) => s.name === DEFAULT_SUBCLIENT);
  if (!row) {
    row = { name: DEFAULT_SUBCLIENT, volumes: [], policy: null, createdAt: new Date(0).toISOString() };
    data.subclients.push(row);
  }
  if (!row.volumes.includes(volume)) row.volumes.push(volume);
}
