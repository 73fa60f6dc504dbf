// The `lvm` provider: a volume is a logical volume (/dev/VG/LV). A snapshot of a thin LV is a
// thin snapshot (no size to choose, activated for reading with -K); of any other LV a classic
// snapshot whose copy-on-write store takes `cowPercent` of the origin's size (default 20 %).
// Snapshots are named <lv>_qrv_<snapshot id> and tagged `qrv` and `qrv-snapshot:<id>`, so that
// qrv lists and removes only its own. Every lvm call goes through the tool wrapper with an
// argument array.
//
// What changed between two snapshots: for thin snapshots, the pool's metadata says which blocks
// the two thin devices map differently (thin_delta, on a metadata snapshot reserved for the
// read and always released); for classic snapshots, the older one's COW store lists every chunk
// of the origin written since it was taken (exception-store.ts). Both stores are read and their
// chunks united, so the order of the two does not matter.
import { QrvError } from '../../core/errors.ts';
import type { ByteRange } from '../../core/byte-range.ts';
import { requireRoot, tool } from '../../system/tools.ts';
import { unitedStoreRanges } from '../cow/exception-store.ts';
import type {
  DiscoveredVolume,
  HeldSnapshot,
  Provider,
  SnapshotHealth,
  SnapshotMade,
  SnapshotRef,
  VolumeFacts,
  VolumeRef,
} from '../provider.ts';
import {
  LVS_FIELDS,
  parseLvs,
  parseThinDelta,
  snapshotIdOf,
  snapshotInvalid,
  SNAPSHOT_TAG,
  type LvRow,
} from './reports.ts';

/** Default size of a classic snapshot's copy-on-write store, in % of the origin. */
export const DEFAULT_COW_PERCENT = 20;

/** VG and LV from the volume's /dev/VG/LV path (the path is what the admin gave and sees). */
function nameOf(volume: VolumeRef): { vg: string; lv: string } {
  const match = /^\/dev\/([^/]+)\/([^/]+)$/.exec(volume.path);
  if (!match)
    throw new QrvError(
      'usage',
      'not-an-lv',
      `volume "${volume.name}": ${volume.path} is not a /dev/VG/LV path`,
      'give the logical volume as /dev/VG/LV',
    );
  return { vg: match[1] as string, lv: match[2] as string };
}

/** lvm needs root for nearly everything (it opens /dev/mapper/control and the PVs): say so first. */
const needRoot = (): void =>
  requireRoot('the lvm provider needs root (lvm opens the device-mapper control device and the physical volumes)');

async function lvm(args: string[]): Promise<string> {
  needRoot();
  // anything but a report may change LVs: what was read before is stale, also if it failed
  const changes = args[0] !== 'lvs';
  if (changes) reports.clear();
  const result = await tool('lvm', args).finally(() => {
    if (changes) reports.clear();
  });
  if (result.exitCode !== 0) {
    const said = (result.stderr || result.stdout).trim().split('\n').pop() ?? '';
    throw new QrvError(
      'io',
      'lvm-failed',
      `lvm ${args.join(' ')} failed${said ? `: ${said.trim()}` : ''}`,
      'run the command by hand to see the whole output (as root)',
    );
  }
  return result.stdout;
}

async function lvs(args: string[]): Promise<LvRow[]> {
  const output = await lvm(['lvs', '--reportformat', 'json', '--units', 'b', '-o', LVS_FIELDS, ...args]);
  const rows = parseLvs(output);
  if (!rows)
    throw new QrvError(
      'io',
      'lvm-failed',
      'lvs printed a report qrv does not understand',
      'check the lvm2 version (2.02.158 or later is needed)',
    );
  return rows;
}

/**
 * How long one `lvs VG` report answers the lookups of a command (which LV, its size, its
 * snapshots, their fill) before it is read again. Each lvs scans the PVs: a `qrv run` looked
 * its LV up six times and a doctor five (0.3-0.5 s each in the emulated VM lane), one of them
 * inside the freeze window (now one read just before it, when under a second old). An LV not
 * in the report is looked for in a fresh one (it may have been made since), and an lvm command
 * of qrv's own that may change LVs (lvcreate, lvremove) drops what was read, before and after.
 */
export const REPORT_TTL_MS = 1000;
const reports = new Map<string, { at: number; rows: Promise<LvRow[] | null> }>();

/** The LVs of a VG, from a report of the last REPORT_TTL_MS unless `fresh`; null when lvs cannot report it (no such VG). */
function vgRows(vg: string, fresh = false): Promise<LvRow[] | null> {
  needRoot();
  const now = Date.now();
  const held = reports.get(vg);
  if (held && !fresh && now - held.at < REPORT_TTL_MS) return held.rows;
  const rows = tool('lvm', ['lvs', '--reportformat', 'json', '--units', 'b', '-o', LVS_FIELDS, vg]).then((result) =>
    result.exitCode === 0 ? parseLvs(result.stdout) : null,
  );
  reports.set(vg, { at: now, rows });
  rows.catch(() => reports.get(vg)?.rows === rows && reports.delete(vg));
  return rows;
}

/** The row of VG/LV, or null when there is no such LV; `fresh`: from a report read now (a fill level). */
async function findLv(vg: string, lv: string, fresh = false): Promise<LvRow | null> {
  const find = (rows: LvRow[] | null) => rows?.find((r) => r.vg === vg && r.name === lv) ?? null;
  const held = reports.get(vg)?.rows;
  const rows = vgRows(vg, fresh);
  const found = find(await rows);
  // not in a report read earlier: it may have been made since
  return found || rows !== held ? found : find(await vgRows(vg, true));
}

async function row(volume: VolumeRef): Promise<LvRow> {
  const { vg, lv } = nameOf(volume);
  const found = await findLv(vg, lv);
  if (!found) {
    throw new QrvError(
      'io',
      'volume-missing',
      `volume "${volume.name}": logical volume ${vg}/${lv} not found`,
      `check \`lvs ${vg}\`, or remove the volume with \`qrv volume remove ${volume.name}\``,
    );
  }
  return found;
}

async function inspect(volume: VolumeRef): Promise<VolumeFacts> {
  const lv = await row(volume);
  if (lv.attr.startsWith('t'))
    throw new QrvError(
      'usage',
      'not-an-lv',
      `volume "${volume.name}": ${lv.vg}/${lv.name} is a thin pool`,
      'add the thin LVs in it, not the pool',
    );
  return { sizeBytes: lv.sizeBytes, kind: 'block' };
}

function defaultOptions(volumePath: string): Record<string, string> {
  const match = /^\/dev\/[^/]+\/[^/]+$/.exec(volumePath);
  return match ? { cowPercent: String(DEFAULT_COW_PERCENT) } : {};
}

function snapshotName(lv: string, snapshotId: string): string {
  return `${lv}_qrv_${snapshotId}`;
}

async function createSnapshot(volume: VolumeRef, snapshotId: string): Promise<SnapshotMade> {
  const origin = await row(volume);
  const name = snapshotName(origin.name, snapshotId);
  const tags = ['--addtag', 'qrv', '--addtag', `${SNAPSHOT_TAG}${snapshotId}`];
  const thin = origin.pool !== '';
  let args: string[];
  if (thin) {
    // -K: activate it now, in the same lvcreate, although it keeps the activation-skip flag that
    // thin snapshots get (so it is not activated at boot): one lvm process less in the window.
    args = ['lvcreate', '-q', '-s', '-K', '-p', 'r', '-n', name, ...tags, `${origin.vg}/${origin.name}`];
  } else {
    const percent = Number(volume.options.cowPercent ?? DEFAULT_COW_PERCENT);
    const cow = Math.max(
      4 * 1024 * 1024,
      Math.ceil(
        (origin.sizeBytes * (Number.isFinite(percent) && percent > 0 ? percent : DEFAULT_COW_PERCENT)) / 100 / 512,
      ) * 512,
    );
    args = [
      'lvcreate',
      '-q',
      '-y',
      '-s',
      '-p',
      'r',
      '-L',
      `${cow}b`,
      '-n',
      name,
      ...tags,
      `${origin.vg}/${origin.name}`,
    ];
  }
  // lvcreate suspends the origin while it switches it to a snapshot origin: that is the window.
  const started = process.hrtime.bigint();
  await lvm(args).catch((error: QrvError) => {
    if (/insufficient free space|Insufficient free/i.test(error.message)) {
      throw new QrvError(
        'refused',
        'vg-full',
        `volume group ${origin.vg} has no room for a snapshot of ${origin.name}: ${error.message}`,
        "free extents in the volume group (vgs), or lower the volume's cowPercent option",
      );
    }
    throw error;
  });
  const suspendedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const handle = `${origin.vg}/${name}`;
  return {
    handle,
    path: `/dev/${origin.vg}/${name}`,
    sizeBytes: origin.sizeBytes,
    method: thin ? 'lvm-thin' : 'lvm-classic',
    suspendedMs,
  };
}

async function removeSnapshot(volume: VolumeRef, handle: string): Promise<void> {
  const { vg, lv } = nameOf(volume);
  if (!handle.startsWith(`${vg}/${lv}_qrv_`)) {
    throw new QrvError(
      'refused',
      'foreign-handle',
      `${handle} is not a qrv snapshot of ${vg}/${lv}`,
      'remove it by hand (lvremove) if it is really a qrv snapshot',
    );
  }
  const gone = await lvs([vg]).then((rows) => !rows.some((r) => `${r.vg}/${r.name}` === handle));
  if (gone) return;
  await lvm(['lvremove', '-q', '-y', handle]);
}

async function listSnapshots(volume: VolumeRef): Promise<HeldSnapshot[]> {
  const { vg, lv } = nameOf(volume);
  // a VG lvs cannot report: read again, for lvm's own words in the error
  const rows = (await vgRows(vg)) ?? (await lvs([vg]));
  return rows
    .filter((r) => r.origin === lv && r.tags.includes('qrv'))
    .map((r) => {
      const snapshotId = snapshotIdOf(r);
      return { handle: `${r.vg}/${r.name}`, path: `/dev/${r.vg}/${r.name}`, ...(snapshotId ? { snapshotId } : {}) };
    });
}

/** The device-mapper name of an LV: VG and LV joined by "-", with each "-" in them doubled. */
export function dmName(vg: string, lv: string): string {
  return `${vg.replace(/-/g, '--')}-${lv.replace(/-/g, '--')}`;
}

/** The LV row of a snapshot handle (VG/LV), or null when it is gone. */
async function snapshotRow(handle: string, fresh = false): Promise<LvRow | null> {
  const [vg, lv] = handle.split('/');
  return vg && lv ? findLv(vg, lv, fresh) : null;
}

async function changedRanges(volume: VolumeRef, from: SnapshotRef, to: SnapshotRef): Promise<ByteRange[] | null> {
  if (from.method !== to.method) return null;
  // whether either is invalid now (its COW store overflowed): one report read now serves both
  const a = await snapshotRow(from.handle, true);
  const b = await snapshotRow(to.handle);
  if (!a || !b || a.vg !== b.vg) return null;
  if (from.method === 'lvm-thin') return thinDelta(a, b, to.sizeBytes);
  if (from.method !== 'lvm-classic' || snapshotInvalid(a) || snapshotInvalid(b)) return null;
  return unitedStoreRanges(
    [a, b].map((row) => `/dev/mapper/${dmName(row.vg, row.name)}-cow`),
    to.sizeBytes,
  );
}

/**
 * thin_delta between two thin LVs of one pool, read from a metadata snapshot: the pool's live
 * metadata changes under any reader, so one is reserved for the read (which also commits the
 * pool's transaction) and released afterwards, whatever happened.
 */
async function thinDelta(a: LvRow, b: LvRow, sizeBytes: number): Promise<ByteRange[] | null> {
  if (!a.pool || a.pool !== b.pool || a.thinId === null || b.thinId === null) return null;
  const pool = `${dmName(a.vg, a.pool)}-tpool`;
  const reserved = await tool('dmsetup', ['message', pool, '0', 'reserve_metadata_snap']);
  if (reserved.exitCode !== 0) return null; // another reader holds it, or the pool is not active
  try {
    const delta = await tool('thin_delta', [
      '-m',
      '--snap1',
      String(a.thinId),
      '--snap2',
      String(b.thinId),
      `/dev/mapper/${dmName(a.vg, a.pool)}_tmeta`,
    ]);
    return delta.exitCode === 0 ? parseThinDelta(delta.stdout, sizeBytes) : null;
  } finally {
    await tool('dmsetup', ['message', pool, '0', 'release_metadata_snap']);
  }
}

async function snapshotHealth(_volume: VolumeRef, snapshot: SnapshotRef): Promise<SnapshotHealth> {
  if (snapshot.method !== 'lvm-classic') return { invalid: false, usedPercent: null };
  // how full it is now, not a second ago: a copy checks this to stop before the store overflows
  const lv = await snapshotRow(snapshot.handle, true);
  if (!lv)
    throw new QrvError(
      'io',
      'snapshot-missing',
      `snapshot ${snapshot.handle} is gone`,
      'run `qrv doctor` to bring the catalog up to date',
    );
  return { invalid: snapshotInvalid(lv), usedPercent: lv.percent };
}

/** Every LV that can be a volume: not a pool, not a snapshot, not a hidden sub-LV. */
async function discover(): Promise<DiscoveredVolume[]> {
  const rows = await lvs([]);
  const taken = new Set<string>();
  const found: DiscoveredVolume[] = [];
  for (const row of rows) {
    const type = row.attr[0];
    if (type === 't' || type === 's' || row.origin !== '' || /^\[.*\]$/.test(row.name) || row.tags.includes('qrv'))
      continue;
    if (type !== '-' && type !== 'o' && type !== 'V') continue;
    let name = taken.has(row.name) ? `${row.vg}-${row.name}` : row.name;
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    found.push({ name, path: `/dev/${row.vg}/${row.name}`, sizeBytes: row.sizeBytes });
  }
  return found;
}

export const lvmProvider: Provider = {
  name: 'lvm',
  description:
    'logical volumes (/dev/VG/LV): thin snapshots of thin LVs, classic snapshots (COW store: cowPercent of the origin, default 20 %) of others',
  quiesce: 'provider',
  inspect,
  defaultOptions,
  createSnapshot,
  removeSnapshot,
  listSnapshots,
  changedRanges,
  snapshotHealth,
  discover,
  instant: {
    // Before the mirror is loaded and after it is gone: lvchange may reload the LV's table.
    hold: async (volume, hydrating) => {
      const { vg, lv } = nameOf(volume);
      await lvm(['lvchange', '--setautoactivation', hydrating ? 'n' : 'y', `${vg}/${lv}`]);
    },
    activate: async (volume) => {
      const { vg, lv } = nameOf(volume);
      await lvm(['lvchange', '-ay', `${vg}/${lv}`]);
    },
  },
};
