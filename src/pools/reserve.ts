// F6 reservation: a QRV takes a pool member inside the copy's catalog transaction, so that no
// other QRV can take it, and gives it back when the QRV is removed. Both work on the catalog
// data handed to Catalog.update and change nothing when they throw.
import type { CatalogData, Pool, PoolMember } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import { largestFree, pickMember } from './best-fit.ts';
import { findNamed } from '../catalog/lookup.ts';

/** The pool named `name`, or the one-line "no pool named" error every pool command shares. */
export function findPool(data: CatalogData, name: string): Pool {
  return findNamed(data.pools, name, 'pool', 'create one with `qrv pool add NAME`');
}

/**
 * Whether a member is held by a QRV that still counts: one that is not removed. A reservation
 * whose QRV row is missing counts too (it is being written in the same transaction).
 */
export function isHeld(data: CatalogData, member: PoolMember): boolean {
  if (member.qrvId === null) return false;
  return data.qrvs.find((q) => q.id === member.qrvId)?.state !== 'removed';
}

/** The pool as best fit sees it: a member whose QRV was removed without giving it back is free. */
export function heldView(data: CatalogData, pool: Pool): Pool {
  return { ...pool, members: pool.members.map((m) => (isHeld(data, m) ? m : { ...m, qrvId: null, volume: null })) };
}

/**
 * Reserves a member of `poolName` for QRV `qrvId` of `volumeName`, which needs `neededBytes`.
 * A member that already holds a QRV of this volume is returned as it is (its qrvId stays that
 * QRV's: the copy updates it); otherwise the best fit is taken. Mutates `data`.
 */
export function reserveMember(
  data: CatalogData,
  poolName: string,
  volumeName: string,
  neededBytes: number,
  qrvId: string,
): PoolMember {
  const pool = findPool(data, poolName);
  const own =
    pool.members.find((m) => m.qrvId === qrvId) ?? pool.members.find((m) => m.volume === volumeName && isHeld(data, m));
  if (own) {
    if (own.capacityBytes < neededBytes) {
      throw new QrvError(
        'refused',
        'pool-member-too-small',
        `pool "${pool.name}": member ${own.path} holds QRV ${own.qrvId} of "${volumeName}" but has room for ${formatBytes(own.capacityBytes)} and the QRV now needs ${formatBytes(neededBytes)}`,
        `remove that QRV with \`qrv remove ${own.qrvId}\` so that the pool can pick a larger member; nothing was written`,
      );
    }
    return own;
  }
  const view = heldView(data, pool);
  const pick = pickMember(view, neededBytes);
  const member = pick && pool.members.find((m) => m.path === pick.path);
  if (!member) throw noFit(view, neededBytes);
  member.qrvId = qrvId;
  member.volume = volumeName;
  return member;
}

function noFit(pool: Pool, neededBytes: number): QrvError {
  const largest = largestFree(pool);
  const why = largest
    ? `the largest free member is ${largest.path} with ${formatBytes(largest.capacityBytes)}`
    : pool.members.length
      ? `it has no free member: all ${pool.members.length} hold QRVs`
      : 'it has no members';
  return new QrvError(
    'refused',
    'pool-no-fit',
    `pool "${pool.name}" has no free member with room for ${formatBytes(neededBytes)}: ${why}`,
    `add a member of at least ${formatBytes(neededBytes)} with \`qrv pool member add ${pool.name} PATH\`, or free one with \`qrv remove QRV\`; nothing was written`,
  );
}

/** Gives back the member QRV `qrvId` holds, in whichever pool; returns it (null when none). Mutates `data`. */
export function releaseMember(data: CatalogData, qrvId: string): { pool: string; member: PoolMember } | null {
  let released: { pool: string; member: PoolMember } | null = null;
  for (const pool of data.pools) {
    for (const member of pool.members) {
      if (member.qrvId !== qrvId) continue;
      member.qrvId = null;
      member.volume = null;
      released ??= { pool: pool.name, member };
    }
  }
  return released;
}
