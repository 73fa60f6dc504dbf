// F6 best fit: of a pool's free members, the one whose capacity is closest to (and at least)
// what a QRV needs, so that large members stay free for large volumes. Pure: no I/O, no clock.
import type { Pool, PoolMember } from '../catalog/schema.ts';
import { compareText } from '../core/text.ts';

/** Equal capacities are told apart by the earlier addedAt, then by path: the same pick every time. */
function compareTie(a: PoolMember, b: PoolMember): number {
  const added = Date.parse(a.addedAt) - Date.parse(b.addedAt);
  if (added !== 0) return added;
  return compareText(a.path, b.path);
}

/** Members no QRV holds. */
export function freeMembers(pool: Pool): PoolMember[] {
  return pool.members.filter((member) => member.qrvId === null);
}

/** The free member that best fits `neededBytes`, or null when none is large enough. */
export function pickMember(pool: Pool, neededBytes: number): PoolMember | null {
  const fitting = freeMembers(pool).filter((member) => member.capacityBytes >= neededBytes);
  return fitting.sort((a, b) => a.capacityBytes - b.capacityBytes || compareTie(a, b))[0] ?? null;
}

/** The free member with the most room (for "the largest free member is …" in refusals), or null. */
export function largestFree(pool: Pool): PoolMember | null {
  return freeMembers(pool).sort((a, b) => b.capacityBytes - a.capacityBytes || compareTie(a, b))[0] ?? null;
}
