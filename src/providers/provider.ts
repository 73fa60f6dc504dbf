// The one interface every snapshot mechanism implements (file now; lvm and dm later). A provider
// says itself whether a volume is its own, makes and removes snapshots, and lists what it really
// holds, so that `qrv doctor` can compare that with the catalog. Optional abilities are optional
// members: the engine asks before it uses them.
import type { Volume } from '../catalog/schema.ts';
import type { ByteRange } from '../core/byte-range.ts';

/** What the catalog knows of a volume, as a provider needs it. */
export interface VolumeRef {
  name: string;
  provider: string;
  /** the image file or block device that holds the data */
  path: string;
  /** provider-specific settings, e.g. the file provider's snapshot store folder */
  options: Record<string, string>;
}

/** A catalog volume as its provider sees it. */
export function volumeRef(volume: Volume): VolumeRef {
  return { name: volume.name, provider: volume.provider, path: volume.path, options: volume.options };
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
  /**
   * What the provider knows of its point in time: `crash-torn` when it copied an image that was
   * written to meanwhile (kept only with allowInconsistent). Absent: atomic (a clone, a device
   * snapshot, or a copy of an image that provably did not change).
   */
  consistency?: 'atomic' | 'crash-torn';
  /** bytes per second, when the provider had to copy: remembered for the next estimate */
  copyRate?: number;
  /** what the engine should tell the user, e.g. who wrote to the image while it was copied */
  warning?: string;
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
  /**
   * Who brings a mounted filesystem on the volume to rest. 'engine' (the default): qrv freezes it
   * (FIFREEZE under a guard; a consistency group's members all at once) and tells createSnapshot
   * (`frozen`). 'provider': the provider's own mechanism freezes it (lvcreate's dm suspend, which
   * fails on a filesystem FIFREEZE froze); the engine only flushes it first.
   */
  readonly quiesce?: 'engine' | 'provider';
  /**
   * Optional: the part of a snapshot that can be made before the volume is frozen (dm: the COW
   * store and the -real device), so that the freeze window holds only the switch. The engine
   * passes the result to createSnapshot (`options.prepared`), or calls its discard() when it
   * does not get that far.
   */
  prepareSnapshot?(volume: VolumeRef, snapshotId: string): Promise<PreparedSnapshot>;
  /**
   * Optional: how many bytes a snapshot of this volume has to copy, or null when it is a clone or
   * a device snapshot (constant time). The engine estimates a freeze from it and refuses one that
   * would outlast --max-freeze before anything is frozen.
   */
  copyEstimate?(volume: VolumeRef): Promise<{ bytes: number } | null>;
  /**
   * Optional: checks what a snapshot of the volume needs, before the job writes anything (file:
   * that its snapshot store is safe to write as root). Throws the QrvError that refuses it.
   */
  checkSnapshot?(volume: VolumeRef): Promise<void>;
  /** Makes a read-only point-in-time snapshot named after `snapshotId`. */
  createSnapshot(volume: VolumeRef, snapshotId: string, options?: CreateOptions): Promise<SnapshotMade>;
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
  /**
   * How a snapshot whose copy-on-write store can fill up is doing (classic LVM, dm). `invalid`: the
   * store overflowed and the kernel dropped the snapshot; it must never be copied from. Providers
   * whose snapshots cannot overflow (file, thin LVM) leave this out.
   */
  snapshotHealth?(volume: VolumeRef, snapshot: SnapshotRef): Promise<SnapshotHealth>;
  /**
   * For providers that take a device over at `qrv volume add` (dm: a qrv-owned device-mapper
   * device in front of it): does so and returns the volume as it is to be recorded (its new
   * path, options). Called before the catalog row is written; undone with `release` if that fails.
   */
  adopt?(volume: VolumeRef, setup: AdoptSetup): Promise<VolumeRef>;
  /** Gives the device back as it was before `adopt` (at `qrv volume remove`). */
  release?(volume: VolumeRef): Promise<void>;
  /**
   * Lists volumes this provider could take (`qrv discover --provider NAME`): candidates, not yet
   * in the catalog; the caller skips the paths it already knows.
   */
  discover?(): Promise<DiscoveredVolume[]>;
  /**
   * After a reboot, for providers whose devices the kernel forgets (dm): makes the volume's device
   * again and attaches the catalog's snapshots (`snapshotIds`) over their persistent stores.
   */
  activate?(volume: VolumeRef, snapshotIds: string[]): Promise<Activation>;
  /**
   * Optional: instant recovery (`qrv recover --instant`, src/providers/hydrate/) of a volume whose
   * device is a device-mapper device.
   */
  instant?: InstantSupport;
  /**
   * Optional, for `qrv doctor`: what a qrv killed while making or removing a snapshot left of it
   * and no snapshot owns (dm: a COW file, its loop device, -real, an origin left suspended or
   * still a snapshot-origin). Only pieces of the volumes given; never a piece of a snapshot in
   * `keep` or of one the provider still holds (listSnapshots: doctor removes those with
   * removeSnapshot), never the volume's own device. Listed in the order they are to be removed.
   */
  leftovers?(volumes: LeftoverScope[]): Promise<Leftover[]>;
}

export interface InstantSupport {
  /**
   * While the copy runs (`hydrating`), keeps whatever would activate the volume's data without the
   * copy in front of it from doing so (lvm: no autoactivation at boot); gives that back after.
   */
  hold(volume: VolumeRef, hydrating: boolean): Promise<void>;
  /** After a reboot: makes the volume's own device active again (lvm: lvchange -ay), not its mirror. */
  activate(volume: VolumeRef): Promise<void>;
}

export interface Activation {
  /** the volume's device was made now (false: it was active already) */
  originCreated: boolean;
  /** snapshots attached again over their COW stores */
  attached: string[];
  /** snapshots active already */
  active: string[];
  /** snapshots that could not be attached, with the reason */
  failed: Array<{ snapshotId: string; reason: string }>;
}

export interface CreateOptions {
  /** the engine froze the filesystem on the volume: do not freeze it again (dm: suspend --nolockfs) */
  frozen: boolean;
  /** what prepareSnapshot made for this snapshot; createSnapshot owns it from then on */
  prepared?: PreparedSnapshot;
  /** keep a copy of an image that was written to while it was copied (consistency crash-torn) instead of refusing it */
  allowInconsistent?: boolean;
}

/** What prepareSnapshot made; discard() removes it when the snapshot is not taken after all. */
export interface PreparedSnapshot {
  discard(): Promise<void>;
}

export interface SnapshotHealth {
  /** the copy-on-write store overflowed: the snapshot's data is gone */
  invalid: boolean;
  /** how full the copy-on-write store is, in %; null when the provider cannot tell */
  usedPercent: number | null;
}

/** What `qrv volume add` knows besides the volume itself. */
export interface AdoptSetup {
  /** qrv's home folder (a provider may keep files under it, e.g. COW stores) */
  home: string;
  /** provider settings given on the command line (e.g. --cow-dir), already in volume.options */
}

export interface DiscoveredVolume {
  /** a suggested volume name (unique among the candidates) */
  name: string;
  path: string;
  sizeBytes: number;
}

/** A volume whose leftovers are asked for, and the snapshots whose pieces must stay. */
export interface LeftoverScope {
  volume: VolumeRef;
  /** snapshot ids the catalog keeps (ready) */
  keep: string[];
}

/** One piece left behind (Provider.leftovers). */
export interface Leftover {
  /** the device, loop device or file */
  subject: string;
  /** what it is and why nothing owns it */
  what: string;
  /** what remove() does, e.g. "detach it (losetup -d)" */
  action: string;
  /** removes it, checking again first; a piece gone meanwhile is not an error */
  remove(): Promise<void>;
}
