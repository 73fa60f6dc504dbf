// Which policy a volume follows: its own, else that of the sub-client it is run through, else
// that of the first sub-client (by name) that holds it and has one.
import type { CatalogData, Policy, Subclient, Volume } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';

export function findPolicy(data: CatalogData, name: string): Policy {
  const policy = data.policies.find((p) => p.name === name);
  if (!policy) {
    const known = data.policies.map((p) => p.name);
    throw new QrvError('notFound', 'unknown-policy', `no policy named "${name}"`, known.length ? `known policies: ${known.join(', ')}` : 'add one with `qrv policy add NAME ...`');
  }
  return policy;
}

export function findSubclient(data: CatalogData, name: string): Subclient {
  const subclient = data.subclients.find((s) => s.name === name);
  if (!subclient) {
    throw new QrvError('notFound', 'unknown-subclient', `no sub-client named "${name}"`, `known sub-clients: ${data.subclients.map((s) => s.name).join(', ')}`);
  }
  return subclient;
}

export function policyFor(data: CatalogData, volume: Volume, via?: Subclient): Policy | null {
  const name =
    volume.policy ??
    via?.policy ??
    [...data.subclients].sort((a, b) => a.name.localeCompare(b.name)).find((s) => s.policy !== null && s.volumes.includes(volume.name))?.policy ??
    null;
  return name === null ? null : (data.policies.find((p) => p.name === name) ?? null);
}
