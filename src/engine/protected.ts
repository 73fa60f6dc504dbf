// What qrv keeps and must never write over by mistake: registered volumes (and the device under a
// dm volume), snapshot files and devices, QRV images and devices, their ledgers (and partial
// ledgers), pool members, and the files of the qrv home. One list and one set of rules, for every
// command that writes a whole file or device it was given (copy's destination, recover's target):
// compared by what a path IS (dev/inode, or the device number of a block device), so that a
// symlink or a hard link to a protected file is caught as well as its own path.
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Qrv } from '../catalog/schema.ts';
import { QrvError, type ErrorCode } from '../core/errors.ts';
import { ledgerPathFor } from '../ledger/ledger.ts';

export type Holder =
  | { kind: 'volume'; volume: string; under: string | null }
  | { kind: 'snapshot'; id: string; volume: string }
  | { kind: 'qrv'; qrv: Qrv }
  | { kind: 'ledger'; qrvId: string }
  | { kind: 'pool-member'; pool: string }
  | { kind: 'home'; home: string };

interface Known {
  path: string;
  holder: Holder;
}

function knownPaths(data: CatalogData, home: string): Known[] {
  const known: Known[] = [];
  for (const v of data.volumes) {
    known.push({ path: v.path, holder: { kind: 'volume', volume: v.name, under: null } });
    // dm: the device under qrv's linear device is the volume too.
    if (v.options.device)
      known.push({ path: v.options.device, holder: { kind: 'volume', volume: v.name, under: v.path } });
  }
  for (const s of data.snapshots)
    if (s.state !== 'removed' && s.path)
      known.push({ path: s.path, holder: { kind: 'snapshot', id: s.id, volume: s.volume } });
  for (const q of data.qrvs) {
    if (q.state === 'removed') continue;
    known.push({ path: q.destination, holder: { kind: 'qrv', qrv: q } });
    const ledger = q.ledger ?? ledgerPathFor(q, home);
    for (const file of [ledger, `${ledger}.partial`])
      known.push({ path: file, holder: { kind: 'ledger', qrvId: q.id } });
  }
  for (const pool of data.pools)
    for (const m of pool.members) known.push({ path: m.path, holder: { kind: 'pool-member', pool: pool.name } });
  return known;
}

/** The same thing on disk: the same device number for block devices, else the same dev and inode. */
export function sameThing(a: Stats, b: Stats): boolean {
  if (a.isBlockDevice() || b.isBlockDevice()) return a.isBlockDevice() && b.isBlockDevice() && a.rdev === b.rdev;
  return a.dev === b.dev && a.ino === b.ino;
}

async function resolved(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/**
 * Everything of qrv's that `target` is: by identity when `st` (what stat or fstat says the target
 * is) is given, and by resolved path (a protected file that does not exist right now; no path:
 * by identity only). Anything inside the home, or a hard link to a file in it, is the home's.
 */
export async function holdersOf(
  data: CatalogData,
  home: string,
  target: string | null,
  st: Stats | null,
): Promise<Holder[]> {
  const real = target === null ? null : await resolved(target);
  const found: Holder[] = [];
  for (const { path: p, holder } of knownPaths(data, home)) {
    const other = st ? await fs.stat(p).catch(() => null) : null;
    if (st && other ? sameThing(st, other) : real !== null && (await resolved(p)) === real) found.push(holder);
  }
  const realHome = await resolved(home);
  const homeStat = await fs.stat(realHome).catch(() => null);
  const inHome = real !== null && (real === realHome || real.startsWith(`${realHome}${path.sep}`));
  if (inHome || (st && homeStat && !st.isBlockDevice() && (await inFolder(st, realHome))))
    found.push({ kind: 'home', home: realHome });
  return found;
}

/** Whether a file with these stats is one of the files directly in `folder` (a hard link into the home). */
async function inFolder(st: Stats, folder: string): Promise<boolean> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const other = await fs.lstat(path.join(folder, name)).catch(() => null);
    if (other && sameThing(st, other)) return true;
  }
  return false;
}

/** What a caller may write over anyway: its own volume (recover), its volume's QRV (copy), a pool member reached through its pool. */
export interface Allowed {
  volume?: string;
  qrvOf?: string;
  poolMember?: boolean;
}

/** For messages: what the holder is. */
export function describeHolder(holder: Holder): string {
  switch (holder.kind) {
    case 'volume':
      return `volume "${holder.volume}"${holder.under ? ` (the device under ${holder.under})` : ''}`;
    case 'snapshot':
      return `snapshot ${holder.id} of "${holder.volume}"`;
    case 'qrv':
      return holder.qrv.state === 'promoted'
        ? `QRV ${holder.qrv.id}, promoted to be the primary of "${holder.qrv.volume}"`
        : `QRV ${holder.qrv.id} of volume "${holder.qrv.volume}"`;
    case 'ledger':
      return `the hash ledger of QRV ${holder.qrvId}`;
    case 'pool-member':
      return `a member of pool "${holder.pool}"`;
    case 'home':
      return `in the qrv home ${holder.home}`;
  }
}

/** The error code for writing over a holder: `<what>-is-volume`, `-is-snapshot`, `-in-use` (a QRV), `-in-pool`, `-is-qrv-file`. */
function codeFor(what: 'destination' | 'target', holder: Holder): ErrorCode {
  switch (holder.kind) {
    case 'volume':
      return `${what}-is-volume` as const;
    case 'snapshot':
      return `${what}-is-snapshot` as const;
    case 'qrv':
      return holder.qrv.state === 'promoted'
        ? (`${what}-is-volume` as const)
        : what === 'destination'
          ? 'destination-in-use'
          : 'target-is-qrv';
    case 'pool-member':
      return `${what}-in-pool` as const;
    default:
      return `${what}-is-qrv-file` as const;
  }
}

/**
 * The one rule: nothing of qrv's is written over, except what the caller is allowed to (the
 * volume it recovers; a QRV of the volume it copies, which the copy updates; a pool member the
 * pool hands out). Throws for the first holder that is not allowed.
 */
export function refuseProtected(
  holders: Holder[],
  what: 'destination' | 'target',
  shown: string,
  allowed: Allowed,
): void {
  for (const holder of holders) {
    if (holder.kind === 'volume' && holder.volume === allowed.volume && !holder.under) continue;
    if (holder.kind === 'qrv' && holder.qrv.state !== 'promoted' && holder.qrv.volume === allowed.qrvOf) continue;
    if (holder.kind === 'pool-member' && allowed.poolMember) continue;
    const hint =
      holder.kind === 'pool-member' && what === 'destination'
        ? `use --to pool:${holder.pool}, so that the pool reserves it`
        : `choose a ${what} that is none of qrv's own volumes, snapshots, QRVs, ledgers, pool members or home files`;
    throw new QrvError('refused', codeFor(what, holder), `${what} ${shown} is ${describeHolder(holder)}`, hint);
  }
}
