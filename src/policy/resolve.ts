// Which policy a volume follows: its own, else that of the sub-client it is run through, else
// that of the first sub-client (by name) that holds it and has one.
import type { CatalogData, Policy, Subclient, Volume } from '../catalog/schema.ts';
import { findNamed } from '../catalog/lookup.ts';
import { compareText } from '../core/text.ts';

export function findPolicy(data: CatalogData, name: string): Policy {
  return findNamed(data.policies, name, 'policy', 'add one with `qrv policy add NAME ...`');
}

export function findSubclient(data: CatalogData, name: string): Subclient {
  return findNamed(data.subclients, name, 'sub-client', 'add one with `qrv subclient add NAME --volume V`');
}

export function policyFor(data: CatalogData, volume: Volume, via?: Subclient): Policy | null {
  const name =
    volume.policy ??
    via?.policy ??
    [...data.subclients]
      .sort((a, b) => compareText(a.name, b.name))
      .find((s) => s.policy !== null && s.volumes.includes(volume.name))?.policy ??
    null;
  return name === null ? null : (data.policies.find((p) => p.name === name) ?? null);
}
