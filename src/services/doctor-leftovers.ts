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
import path from 'node:path';
import { isMounted } from '../system/guard-process.ts';
import { tool } from '../system/tools.ts';
import { abandonedWorkDirs, removeTree } from '../system/work-dirs.ts';

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

/**
 * Work folders in $TMPDIR of a recovery by object whose qrv is gone (killed): an overlay clone's
 * upper folder with what a throwaway server wrote, a server's run folder, files read out of a
 * copy. --fix unmounts what is still mounted in one (its guard normally does) and removes it.
 */
export async function workDirFindings(): Promise<Planned[]> {
  return (await abandonedWorkDirs()).map((dir) => ({
    finding: {
      kind: 'leftover' as const,
      subject: dir,
      what: `${dir}: a work folder of a recovery by object, left by a qrv that was killed`,
      action: 'unmount what is mounted in it, and remove it',
      fixed: false,
      error: null,
    },
    fix: async () => {
      const mountpoint = path.join(dir, 'mnt');
      if (isMounted(mountpoint)) await tool('umount', ['-l', mountpoint]);
      await removeTree(dir);
    },
  }));
}
