// `qrv pool add|remove|list|show` and `qrv pool member add|remove` (F6): the sets of candidate
// destinations a QRV's place is picked from, and their members' capacities.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData, Pool, PoolMember } from '../catalog/schema.ts';
import { formatBytes } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { table } from '../output/rows.ts';
import { freeMembers, largestFree } from '../pools/best-fit.ts';
import { measureMember } from '../pools/capacity.ts';
import { findPool, heldView, isHeld } from '../pools/reserve.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function addPool(ctx: Context, name: string): Promise<Summary> {
  if (!NAME.test(name)) {
    throw new QrvError(
      'usage',
      'bad-pool-name',
      `pool name "${name}" is not allowed`,
      'use letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit',
    );
  }
  const pool: Pool = { name, members: [], createdAt: ctx.now().toISOString() };
  await ctx.catalog.update((data) => {
    if (data.pools.some((p) => p.name === name))
      throw new QrvError(
        'refused',
        'pool-exists',
        `a pool named "${name}" exists already`,
        'choose another name, or see it with `qrv pool show`',
      );
    data.pools.push(pool);
  });
  return {
    data: { pool },
    lines: [`added pool ${name} (no members yet: add some with \`qrv pool member add ${name} PATH\`)`],
  };
}

export async function removePool(ctx: Context, name: string): Promise<Summary> {
  const pool = await ctx.catalog.update((data) => {
    const row = findPool(data, name);
    const held = row.members.filter((m) => isHeld(data, m));
    if (held.length) {
      throw new QrvError(
        'refused',
        'pool-in-use',
        `pool "${name}" still holds ${held.length} QRV(s): ${held.map((m) => `${m.qrvId} at ${m.path}`).join(', ')}`,
        'remove them first with `qrv remove QRV`',
      );
    }
    const policies = data.policies.filter((p) => p.dest === `pool:${name}`).map((p) => p.name);
    if (policies.length)
      throw new QrvError(
        'refused',
        'pool-in-policy',
        `pool "${name}" is the destination of policy ${policies.join(', ')}`,
        'give those policies another destination first',
      );
    data.pools = data.pools.filter((p) => p.name !== name);
    return row;
  });
  return {
    data: { pool },
    lines: [`removed pool ${name} (the files and devices of its ${pool.members.length} member(s) are untouched)`],
  };
}

export interface AddMemberRequest {
  pool: string;
  path: string;
  /** --capacity, parsed; null: measure it */
  capacityBytes: number | null;
}

export async function addMember(ctx: Context, request: AddMemberRequest): Promise<Summary> {
  findPool(await ctx.catalog.read(), request.pool);
  const measured = await measureMember(request.path, request.capacityBytes);
  const { existingBytes, ...facts } = measured;
  const member: PoolMember = { ...facts, qrvId: null, volume: null, addedAt: ctx.now().toISOString() };
  await ctx.catalog.update(async (data) => {
    const pool = findPool(data, request.pool);
    await refuseClaimed(data, pool.name, request.path, member.path);
    pool.members.push(member);
  });
  const from = { given: 'given', filesystem: 'free space of its filesystem', device: 'size of the device' }[
    member.capacityFrom
  ];
  const lines = [
    `added ${member.kind} ${member.path} to pool ${request.pool}: capacity ${formatBytes(member.capacityBytes)} (${from})`,
  ];
  if (existingBytes > 0)
    lines.push(
      `note: the existing file there (${formatBytes(existingBytes)}) will be overwritten by the QRV that takes this member`,
    );
  return { data: { pool: request.pool, member }, lines };
}

async function realOrResolved(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/** A member must not be something qrv already uses: a volume, a snapshot, a QRV, or a member of any pool. */
async function refuseClaimed(data: CatalogData, target: string, given: string, real: string): Promise<void> {
  for (const pool of data.pools) {
    if (!pool.members.some((m) => m.path === real)) continue;
    const hint =
      pool.name === target
        ? `see it with \`qrv pool show ${target}\``
        : `a path is in one pool only; \`qrv pool member remove ${pool.name} ${real}\` first to move it`;
    throw new QrvError('refused', 'member-in-pool', `${given} is a member of pool "${pool.name}" already`, hint);
  }
  for (const volume of data.volumes) {
    if ((await realOrResolved(volume.path)) === real)
      throw new QrvError(
        'refused',
        'member-is-volume',
        `${given} is volume "${volume.name}"`,
        'a pool member must be a place for QRVs, not a volume',
      );
  }
  const snapshot = data.snapshots.find((s) => s.state !== 'removed' && s.path === real);
  if (snapshot)
    throw new QrvError(
      'refused',
      'member-is-snapshot',
      `${given} is snapshot ${snapshot.id} of "${snapshot.volume}"`,
      'choose a path that holds no snapshot',
    );
  const qrv = data.qrvs.find((q) => q.state !== 'removed' && q.destination === real);
  if (qrv)
    throw new QrvError(
      'refused',
      'member-is-qrv',
      `${given} holds QRV ${qrv.id} of "${qrv.volume}"`,
      `choose another path, or \`qrv remove ${qrv.id}\` first`,
    );
}

export async function removeMember(ctx: Context, request: { pool: string; path: string }): Promise<Summary> {
  const real = await realOrResolved(request.path);
  const member = await ctx.catalog.update((data) => {
    const pool = findPool(data, request.pool);
    const row = pool.members.find((m) => m.path === real || m.path === path.resolve(request.path));
    if (!row) {
      const known = pool.members.map((m) => m.path);
      throw new QrvError(
        'notFound',
        'unknown-member',
        `pool "${pool.name}" has no member ${request.path}`,
        known.length ? `its members: ${known.join(', ')}` : 'it has no members',
      );
    }
    if (isHeld(data, row)) {
      throw new QrvError(
        'refused',
        'member-reserved',
        `member ${row.path} of pool "${pool.name}" holds QRV ${row.qrvId} of "${row.volume}"`,
        `remove the QRV first with \`qrv remove ${row.qrvId}\``,
      );
    }
    pool.members = pool.members.filter((m) => m !== row);
    return row;
  });
  return {
    data: { pool: request.pool, member },
    lines: [`removed member ${member.path} from pool ${request.pool} (its data is untouched)`],
  };
}

export async function listPools(ctx: Context): Promise<Summary> {
  const data = await ctx.catalog.read();
  const rows = data.pools.map((pool) => {
    const seen = heldView(data, pool);
    const free = freeMembers(seen);
    const largest = largestFree(seen);
    const total = pool.members.reduce((sum, m) => sum + m.capacityBytes, 0);
    return [
      pool.name,
      String(pool.members.length),
      String(free.length),
      formatBytes(total),
      largest ? formatBytes(largest.capacityBytes) : '-',
    ];
  });
  const lines = rows.length
    ? table(['POOL', 'MEMBERS', 'FREE', 'CAPACITY', 'LARGEST FREE'], rows)
    : ['no pools yet (add one with `qrv pool add NAME`)'];
  return { data: { pools: data.pools }, lines };
}

export async function showPool(ctx: Context, name: string): Promise<Summary> {
  const data = await ctx.catalog.read();
  const pool = findPool(data, name);
  const seen = heldView(data, pool);
  const head = `pool ${pool.name}, created ${pool.createdAt}, ${pool.members.length} member(s), ${freeMembers(seen).length} free`;
  const rows = seen.members.map((m) => [
    m.path,
    m.kind,
    formatBytes(m.capacityBytes),
    m.capacityFrom,
    m.qrvId ? `${m.qrvId} (${m.volume})` : 'free',
  ]);
  const lines = rows.length ? [head, '', ...table(['MEMBER', 'KIND', 'CAPACITY', 'FROM', 'HELD BY'], rows)] : [head];
  return { data: { pool }, lines };
}
