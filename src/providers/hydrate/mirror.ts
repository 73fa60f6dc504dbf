// Instant recovery's device-mapper shapes (pure: no device is touched here). The volume's own
// device is reloaded as a `mirror` (the target pvmove uses): leg 0 reads the copy, leg 1 is the
// volume's data. The kernel reads every read from leg 0 (dm-raid1 reads only from its default
// mirror), writes every write to both legs, and copies leg 0 onto leg 1 region by region in the
// background (kcopyd), remembering the regions done in a region log on disk, so that a reboot or
// a crash resumes where it stopped instead of starting again.
//
// Leg 0 is not the QRV image itself: writes made while the copy runs must not change the QRV (it
// stays a point in time). It is a persistent dm snapshot of the image (attached read-only): those
// writes land in its COW store, a sparse file as large as the volume, so it cannot overflow.

/** 512-byte sectors, as device-mapper counts. */
export const SECTOR = 512;
/** Region of the mirror's log: 512 KiB (what lvm.conf's mirror_region_size defaulted to). */
export const REGION_SECTORS = 1024;

/** The helper devices of one hydration (UUIDs begin with QRV-HYD-, which doctor recognises). */
export interface HydrationNames {
  /** leg 0: a snapshot of the copy */
  source: string;
  /** leg 1: the volume's own table, as it was */
  primary: string;
}

export const hydrationNames = (id: string): HydrationNames => ({
  source: `qrv-hyd-${id}-src`,
  primary: `qrv-hyd-${id}-prim`,
});
export const hydrationUuid = (name: string): string => name.replace(/^qrv-hyd-/, 'QRV-HYD-');

/** The mirror table line: leg 0 the copy (default mirror, the one synchronised from), leg 1 the volume. */
export function mirrorTable(
  sectors: number,
  legs: { log: string; source: string; primary: string },
  regionSectors = REGION_SECTORS,
): string {
  return `0 ${sectors} mirror disk 2 ${legs.log} ${regionSectors} 2 ${legs.source} 0 ${legs.primary} 0 1 handle_errors`;
}

/** Leg 0's table: a persistent snapshot (P, 4 KiB chunks) of the read-only copy. */
export function sourceTable(sectors: number, image: string, cow: string): string {
  return `0 ${sectors} snapshot ${image} ${cow} P 8`;
}

/** How far the kernel's copy is, from `dmsetup status` of the mirror. */
export interface MirrorStatus {
  /** regions in sync */
  synced: number;
  total: number;
  /** one letter per leg: A alive, D dead (write failure), S sync failure, R read failure, U unclassified */
  legs: string;
  /** the log device's health letter (A alive, D dead) */
  log: string;
}

/**
 * Parses the status of a mirror, e.g.
 * `0 524288 mirror 2 253:2 253:3 105/512 1 AA 3 disk 7:2 A`; null for any other target.
 */
export function parseMirrorStatus(text: string): MirrorStatus | null {
  const line = text.trim();
  if (line.includes('\n')) return null;
  const m = /^\d+ \d+ mirror (\d+) ((?:\S+ )+?)(\d+)\/(\d+) \d+ ([ADSRU]+) \d+ (?:disk \S+ ([AD])|core)$/.exec(line);
  if (!m) return null;
  const legs = m[5] as string;
  if (legs.length !== Number(m[1])) return null;
  return { synced: Number(m[3]), total: Number(m[4]), legs, log: m[6] ?? 'A' };
}

/** Size of the COW file of leg 0: every chunk of the volume written once, and the store's own index. */
export function cowBytes(sizeBytes: number): number {
  // 16 bytes of index per 4 KiB chunk, plus the header and rounding: 1/128 + 1 MiB is ample
  return roundUp(sizeBytes + Math.ceil(sizeBytes / 128) + 1024 * 1024, 4096);
}

/** Size of the region log: one header sector and one bit per region, at least 1 MiB. */
export function logBytes(sizeBytes: number, regionSectors = REGION_SECTORS): number {
  const regions = Math.ceil(sizeBytes / (regionSectors * SECTOR));
  return Math.max(1024 * 1024, roundUp(4096 + Math.ceil(regions / 8), 4096));
}

const roundUp = (n: number, unit: number): number => Math.ceil(n / unit) * unit;
