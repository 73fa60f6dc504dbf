// The pool services against a real catalog in a temporary home: what is refused (and leaves the
// catalog file byte for byte as it was), and what a reservation blocks.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import type { Qrv } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { reserveMember } from '../../src/pools/reserve.ts';
import { addMember, addPool, listPools, removeMember, removePool, showPool } from '../../src/services/pools.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { refused } from '../helpers/assert.ts';

const GiB = 1024 ** 3;
const AT = '2025-03-04T05:06:07.000Z';

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const catalog = await Catalog.open(path.join(dir, 'home'));
  let tick = 0;
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(Date.parse(AT) + 1000 * tick++) };
  return { dir, ctx, file: catalog.file };
}

function qrvRow(id: string, volume: string, destination: string, state: Qrv['state'] = 'ready'): Qrv {
  return {
    id,
    volume,
    snapshotId: 's-00000001',
    destination,
    destinationKind: 'file',
    state,
    sizeBytes: GiB,
    blockSize: 65536,
    checksum: null,
    ledger: null,
    createdAt: AT,
    updatedAt: AT,
    history: [],
    pool: 'p',
    lastVerify: null,
  };
}

t.test('pools and members: add, list, show, remove', async (t) => {
  const { dir, ctx } = await setup(t);
  const added = await addPool(ctx, 'p');
  t.match(added.data.pool, { name: 'p', members: [], createdAt: AT });
  const m = await addMember(ctx, { pool: 'p', path: path.join(dir, 'a.img'), capacityBytes: 2 * GiB });
  t.match(m.data.member, {
    path: path.join(dir, 'a.img'),
    kind: 'file',
    capacityBytes: 2 * GiB,
    capacityFrom: 'given',
    qrvId: null,
    volume: null,
  });
  t.match(m.lines[0], /capacity 2\.00 GiB \(given\)/);
  await fs.writeFile(path.join(dir, 'b.img'), Buffer.alloc(1024 * 1024, 1));
  const b = await addMember(ctx, { pool: 'p', path: path.join(dir, 'b.img'), capacityBytes: null });
  t.equal(b.data.member && (b.data.member as { capacityFrom: string }).capacityFrom, 'filesystem');
  t.match(b.lines[1], /existing file there .* will be overwritten/);
  const list = await listPools(ctx);
  t.match(list.lines, [/^POOL\s+MEMBERS\s+FREE\s+CAPACITY\s+LARGEST FREE$/, /^p\s+2\s+2\s/]);
  const show = await showPool(ctx, 'p');
  t.match(show.lines[0], /pool p, created .*, 2 member\(s\), 2 free/);
  t.match(show.lines.join('\n'), new RegExp(`${path.join(dir, 'a.img')}\\s+file\\s+2\\.00 GiB\\s+given\\s+free`));
  await removeMember(ctx, { pool: 'p', path: path.join(dir, 'a.img') });
  t.same(
    (await ctx.catalog.read()).pools[0]?.members.map((x) => x.path),
    [path.join(dir, 'b.img')],
  );
  await removePool(ctx, 'p');
  t.same((await ctx.catalog.read()).pools, []);
  t.match((await listPools(ctx)).lines, [/no pools yet/]);
});

t.test('bad names, duplicates and unknown pools or members are refused', async (t) => {
  const { dir, ctx, file } = await setup(t);
  await addPool(ctx, 'p');
  await refused(t, file, () => addPool(ctx, 'p'), 'refused', 'pool-exists', /a pool named "p" exists already/);
  await refused(t, file, () => addPool(ctx, 'pool:x'), 'usage', 'bad-pool-name', /pool name "pool:x" is not allowed/);
  await refused(t, file, () => addPool(ctx, '-p'), 'usage', 'bad-pool-name', /not allowed/);
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'q', path: path.join(dir, 'a.img'), capacityBytes: GiB }),
    'notFound',
    'unknown-pool',
    /no pool named "q"/,
  );
  await refused(
    t,
    file,
    () => removeMember(ctx, { pool: 'p', path: path.join(dir, 'a.img') }),
    'notFound',
    'unknown-member',
    /pool "p" has no member/,
  );
  await refused(t, file, () => removePool(ctx, 'q'), 'notFound', 'unknown-pool', /no pool named "q"/);
  await refused(t, file, () => showPool(ctx, 'q'), 'notFound', 'unknown-pool', /no pool named "q"/);
});

t.test('a member must not be a volume, a snapshot, a QRV or another member', async (t) => {
  const { dir, ctx, file } = await setup(t);
  await addPool(ctx, 'p');
  await addPool(ctx, 'other');
  const taken = path.join(dir, 'taken.img');
  await addMember(ctx, { pool: 'other', path: taken, capacityBytes: GiB });
  await ctx.catalog.update((data) => {
    data.volumes.push({
      name: 'web',
      provider: 'file',
      path: path.join(dir, 'web.img'),
      options: {},
      sizeBytes: GiB,
      addedAt: AT,
      policy: null,
      discovered: false,
    });
    data.snapshots.push({
      id: 's-00000001',
      volume: 'web',
      subclient: null,
      provider: 'file',
      handle: 'h',
      path: path.join(dir, 'snap.img'),
      createdAt: AT,
      persistUntil: null,
      label: null,
      pinned: false,
      state: 'ready',
      sizeBytes: GiB,
      groupId: 'g',
      method: 'sparse-copy',
      quiesce: 'none',
      suspendedMs: 0,
      objects: [],
      jobId: 'j-00000001',
      removedAt: null,
      policy: null,
      copiedTo: null,
      consistency: 'unknown',
      copyRate: null,
    });
    data.qrvs.push(
      qrvRow('q-00000001', 'web', path.join(dir, 'web.qrv.img')),
      qrvRow('q-00000002', 'web', path.join(dir, 'old.qrv.img'), 'removed'),
    );
  });
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: taken, capacityBytes: GiB }),
    'refused',
    'member-in-pool',
    /taken\.img is a member of pool "other" already/,
  );
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'other', path: taken, capacityBytes: GiB }),
    'refused',
    'member-in-pool',
    /member of pool "other" already/,
  );
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: path.join(dir, 'web.img'), capacityBytes: GiB }),
    'refused',
    'member-is-volume',
    /is volume "web"/,
  );
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: path.join(dir, 'snap.img'), capacityBytes: GiB }),
    'refused',
    'member-is-snapshot',
    /is snapshot s-00000001 of "web"/,
  );
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: path.join(dir, 'web.qrv.img'), capacityBytes: GiB }),
    'refused',
    'member-is-qrv',
    /holds QRV q-00000001 of "web"/,
  );
  // the same path spelled another way is the same path
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: path.join(dir, 'x', '..', 'taken.img'), capacityBytes: GiB }),
    'refused',
    'member-in-pool',
    /already/,
  );
  await fs.symlink(path.join(dir, 'web.img'), path.join(dir, 'alias.img'));
  await fs.writeFile(path.join(dir, 'web.img'), 'v');
  await refused(
    t,
    file,
    () => addMember(ctx, { pool: 'p', path: path.join(dir, 'alias.img'), capacityBytes: GiB }),
    'refused',
    'member-is-volume',
    /is volume "web"/,
  );
  const ok = await addMember(ctx, { pool: 'p', path: path.join(dir, 'old.qrv.img'), capacityBytes: GiB });
  t.match(ok.data.member, { path: path.join(dir, 'old.qrv.img') }, "a removed QRV's place can be a member");
});

t.test("a reserved member blocks its removal and the pool's, until its QRV is removed", async (t) => {
  const { dir, ctx, file } = await setup(t);
  await addPool(ctx, 'p');
  await addMember(ctx, { pool: 'p', path: path.join(dir, 'a.img'), capacityBytes: 2 * GiB });
  await addMember(ctx, { pool: 'p', path: path.join(dir, 'b.img'), capacityBytes: 4 * GiB });
  await ctx.catalog.update((data) => {
    const member = reserveMember(data, 'p', 'web', GiB, 'q-00000001');
    data.qrvs.push(qrvRow('q-00000001', 'web', member.path));
  });
  t.match((await showPool(ctx, 'p')).lines.join('\n'), /a\.img\s+file\s+2\.00 GiB\s+given\s+q-00000001 \(web\)/);
  t.match((await listPools(ctx)).lines[1], /^p\s+2\s+1\s+6\.00 GiB\s+4\.00 GiB$/);
  await refused(
    t,
    file,
    () => removeMember(ctx, { pool: 'p', path: path.join(dir, 'a.img') }),
    'refused',
    'member-reserved',
    /member .*a\.img of pool "p" holds QRV q-00000001 of "web"/,
  );
  await refused(
    t,
    file,
    () => removePool(ctx, 'p'),
    'refused',
    'pool-in-use',
    /pool "p" still holds 1 QRV\(s\): q-00000001 at .*a\.img/,
  );
  await removeMember(ctx, { pool: 'p', path: path.join(dir, 'b.img') });
  t.pass('a free member of the same pool can go');

  // The QRV is removed by other means (the member not given back): the member no longer blocks.
  await ctx.catalog.update((data) => {
    data.qrvs[0]!.state = 'removed';
  });
  t.match((await showPool(ctx, 'p')).lines.join('\n'), /a\.img\s+file\s+2\.00 GiB\s+given\s+free/);
  await removeMember(ctx, { pool: 'p', path: path.join(dir, 'a.img') });
  await removePool(ctx, 'p');
  t.same((await ctx.catalog.read()).pools, []);
});

t.test('a pool a policy sends QRVs to cannot be removed', async (t) => {
  const { ctx, file } = await setup(t);
  await addPool(ctx, 'p');
  await ctx.catalog.update((data) => {
    data.policies.push({
      name: 'nightly',
      persist: '7d',
      copy: 'now',
      unsnap: 'after-copy',
      dest: 'pool:p',
      keep: null,
      schedule: null,
      hooks: {},
      hookTimeout: null,
      incremental: false,
      createdAt: AT,
      updatedAt: AT,
    });
  });
  await refused(
    t,
    file,
    () => removePool(ctx, 'p'),
    'refused',
    'pool-in-policy',
    /pool "p" is the destination of policy nightly/,
  );
});
