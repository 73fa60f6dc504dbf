// `qrv doctor`'s look for what a qrv killed in the middle of a snapshot or of its removal left
// behind and no snapshot owns (Provider.leftovers; dm: an origin left suspended or still a
// snapshot-origin, -real, loop devices, COW files). Volumes with a live job are left alone; the
// pieces of a snapshot the catalog keeps as ready are never touched. --fix removes them in the
// order the provider lists them, after the snapshot findings removed the snapshot devices.
import type { CatalogData } from '../catalog/schema.ts';
import { jobAlive } from '../engine/job-recorder.ts';
import { volumeRef, type LeftoverScope } from '../providers/provider.ts';
import { getProvider } from '../providers/registry.ts';
import type { Planned } from './doctor-findings.ts';

export async function leftoverFindings(data: CatalogData): Promise<Planned[]> {
  const scopes = new Map<string, LeftoverScope[]>();
  for (const volume of data.volumes) {
    if (data.jobs.some((j) => j.volume === volume.name && jobAlive(j))) continue;
    if (!getProvider(volume.provider).leftovers) continue;
    const keep = data.snapshots.filter((s) => s.volume === volume.name && s.state === 'ready').map((s) => s.id);
    scopes.set(volume.provider, [...(scopes.get(volume.provider) ?? []), { volume: volumeRef(volume), keep }]);
  }
  const planned: Planned[] = [];
  for (const [name, volumes] of scopes) {
    const provider = getProvider(name);
    // A provider that cannot look (not root, no device-mapper) reports nothing, as listSnapshots.
    const found = (await provider.leftovers?.(volumes).catch(() => null)) ?? [];
    for (const piece of found) {
      planned.push({
        finding: {
          kind: 'leftover',
          subject: piece.subject,
          what: `${piece.what} (left by a qrv that was killed)`,
          action: piece.action,
          fixed: false,
          error: null,
        },
        fix: () => piece.remove(),
      });
    }
  }
  return planned;
}
