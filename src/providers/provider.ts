// The one interface every snapshot mechanism implements (file now; lvm and dm later). A provider
// says itself whether a volume is its own, makes and removes snapshots, and lists what it really
// holds, so that `qrv doctor` can compare that with the catalog. Optional abilities are optional
// members: the engine asks before it uses them.
import type { ByteRange } from '../copy/extent-map.ts';

/** What the catalog knows of a volume, as a provider needs it. */
export interface VolumeRef {
  name: string;
  provider: string;
  /** the image file or block device that holds the data */
  path: string;
  /** provider-specific settings, e.g. the file provider's snapshot store folder */
  options: Record<string, string>;
}

export interface VolumeFacts {
  /** logical size in bytes */
  sizeBytes: number;
  kind: 'file' | 'block';
}

/** How a snapshot was made; recorded on the snapshot row. */
export interface SnapshotMade {
  /** the provider's own handle for the snapshot (a file path, an LV name, a dm name) */
  handle: string;
  /** a path that reads the snapshot's data, block for block */
  path: string;
  sizeBytes: number;
  /** e.g. "reflink" or "sparse-copy" for the file provider */
  method: string;
  /** how long the volume's I/O was held still for this snapshot, in milliseconds */
  suspendedMs: number;
}

export interface HeldSnapshot {
  handle: string;
  path: string;
  /** the snapshot id qrv gave it, when the provider can tell */
  snapshotId?: string;
}

/** A snapshot as the catalog records it, for the questions asked about two of them. */
export interface SnapshotRef {
  handle: string;
  path: string;
  /** SnapshotMade.method */
  method: string;
  sizeBytes: number;
}

export interface Provider {
  readonly name: string;
  /** One line for `qrv volume add --help` and docs. */
  readonly description: string;
  /** Checks that the volume exists and is usable; returns its size. Throws QrvError otherwise. */
  inspect(volume: VolumeRef): Promise<VolumeFacts>;
  /** Default provider options for a new volume (filled in at `volume add`). */
  defaultOptions(path: string, name: string): Record<string, string>;
  /** Makes a read-only point-in-time snapshot named after `snapshotId`. */
  createSnapshot(volume: VolumeRef, snapshotId: string): Promise<SnapshotMade>;
  /** Removes a snapshot; removing one that is already gone is not an error. */
  removeSnapshot(volume: VolumeRef, handle: string): Promise<void>;
  /** What the provider really holds for this volume (snapshots made by qrv). */
  listSnapshots(volume: VolumeRef): Promise<HeldSnapshot[]>;
  /**
   * The byte ranges of `to` (within [0, to.sizeBytes)) whose content may differ from `from`, two
   * snapshots of this volume, sorted and merged. The ranges must cover every byte that may differ:
   * an over-approximation is allowed, an under-approximation never. null means "cannot tell" (for
   * these two snapshots, or at all); the engine then falls back to its hash ledger.
   */
  changedRanges?(volume: VolumeRef, from: SnapshotRef, to: SnapshotRef): Promise<ByteRange[] | null>;
}
