// `qrv remove` as a service on a real catalog: the row marked removed and the member given back
// in one transaction, then the file deleted; refusals leave the catalog and the data alone.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import type { Job, Qrv } from '../../src/catalog/schema.ts';
import { Reporter } from '../../src/core/events.ts';
import type { Context } from '../../src/engine/context.ts';
import { findPool, reserveMember } from '../../src/pools/reserve.ts';
import { addMember, addPool } from '../../src/services/pools.ts';
import { removeQrv } from '../../src/services/remove-qrv.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { refused } from '../helpers/assert.ts';

const MiB = 1024 ** 2;
const AT = '2025-03-04T05:06:07.000Z';
const LATER = '2025-03-05T00:00:00.000Z';

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const catalog = await Catalog.open(path.join(dir, 'home'));
  const ctx: Context = { catalog, reporter: new Reporter(), now: () => new Date(LATER) };
  return { dir, ctx, file: catalog.file };
}

function qrvRow(id: string, destination: string, extra: Partial<Qrv> = {}): Qrv {
  return {
    id,
    volume: 'web',
    snapshotId: 's-00000001',
    destination,
    destinationKind: 'file',
    state: 'ready',
    sizeBytes: MiB,
    blockSize: 65536,
    checksum: null,
    ledger: null,
    createdAt: AT,
    updatedAt: AT,
    history: [],
    pool: null,
    lastVerify: null,
    ...extra,
  };
}

function jobRow(qrvId: string, pid: number): Job {
  return {
    id: 'j-00000001',
    kind: 'copy',
    volume: 'web',
    state: 'running',
    pid,
    host: os.hostname(),
    startedAt: AT,
    endedAt: null,
    snapshotId: 's-00000001',
    qrvId,
    destination: null,
    steps: [],
    warnings: [],
    error: null,
    progress: null,
    resumes: null,
  };
}

t.test(
  'removing a QRV held in a pool marks it removed, deletes the file and frees the member, in one write',
  async (t) => {
    const { dir, ctx } = await setup(t);
    await addPool(ctx, 'p');
    const dest = path.join(dir, 'm.img');
    await addMember(ctx, { pool: 'p', path: dest, capacityBytes: 64 * MiB });
    await ctx.catalog.update((data) => {
      const member = reserveMember(data, 'p', 'web', MiB, 'q-00000001');
      data.qrvs.push(qrvRow('q-00000001', member.path, { pool: 'p' }));
    });
    await fs.writeFile(dest, Buffer.alloc(MiB, 3));
    const writes: string[] = [];
    const update = ctx.catalog.update.bind(ctx.catalog);
    ctx.catalog.update = (change) => {
      writes.push('update');
      return update(change);
    };
    const summary = await removeQrv(ctx, { qrvId: 'q-00000001', keepData: false });
    t.equal(writes.length, 1, 'one transaction');
    t.match(summary.data, {
      qrv: { id: 'q-00000001', state: 'removed', updatedAt: LATER, pool: 'p' },
      deletedPath: dest,
      releasedMember: { pool: 'p', path: dest },
    });
    t.same(summary.lines, [
      `removed QRV q-00000001 of web; deleted its image ${dest}`,
      `gave member ${dest} back to pool p`,
    ]);
    await t.rejects(fs.stat(dest), { code: 'ENOENT' }, 'the file is gone');
    const data = await ctx.catalog.read();
    t.equal(data.qrvs[0]?.state, 'removed', 'the row stays, marked removed');
    t.match(findPool(data, 'p').members[0], { path: dest, qrvId: null, volume: null });
    t.equal(reserveMember(data, 'p', 'db', MiB, 'q-00000002').path, dest, 'the member can be taken again');
  },
);

t.test('--keep-data keeps the file; a block device is never touched', async (t) => {
  const { dir, ctx } = await setup(t);
  const file = path.join(dir, 'keep.img');
  const device = path.join(dir, 'pretend-device');
  await fs.writeFile(file, 'qrv data');
  await fs.writeFile(device, 'device data');
  await ctx.catalog.update((data) => {
    data.qrvs.push(qrvRow('q-00000001', file), qrvRow('q-00000002', device, { destinationKind: 'block' }));
  });
  const kept = await removeQrv(ctx, { qrvId: 'q-00000001', keepData: true });
  t.match(kept.data, { qrv: { state: 'removed' }, deletedPath: null, releasedMember: null });
  t.match(kept.lines[0], /its image .*keep\.img is kept \(--keep-data\)/);
  t.equal(await fs.readFile(file, 'utf8'), 'qrv data');
  const block = await removeQrv(ctx, { qrvId: 'q-00000002', keepData: false });
  t.match(block.lines[0], /the data on block device .* is left as it is/);
  t.equal(await fs.readFile(device, 'utf8'), 'device data', "a block QRV's data is never deleted");
});

t.test('a file already gone, or no longer a regular file, is not an error and is not touched', async (t) => {
  const { dir, ctx } = await setup(t);
  const folder = path.join(dir, 'now-a-folder');
  await fs.mkdir(folder);
  await ctx.catalog.update((data) => {
    data.qrvs.push(qrvRow('q-00000001', path.join(dir, 'gone.img')), qrvRow('q-00000002', folder));
  });
  t.match((await removeQrv(ctx, { qrvId: 'q-00000001', keepData: false })).lines[0], /was gone already/);
  t.match((await removeQrv(ctx, { qrvId: 'q-00000002', keepData: false })).lines[0], /no longer a regular file/);
  t.ok((await fs.stat(folder)).isDirectory());
});

t.test('refused: unknown, removed already, copied by a live job', async (t) => {
  const { dir, ctx, file } = await setup(t);
  const dest = path.join(dir, 'q.img');
  await fs.writeFile(dest, 'x');
  await ctx.catalog.update((data) => {
    data.qrvs.push(qrvRow('q-00000001', dest, { state: 'copying' }), qrvRow('q-00000002', dest, { state: 'removed' }));
    data.jobs.push(jobRow('q-00000001', process.pid));
  });
  await refused(
    t,
    file,
    () => removeQrv(ctx, { qrvId: 'q-0000dead', keepData: false }),
    'notFound',
    'unknown-qrv',
    /no QRV with id "q-0000dead"/,
  );
  await refused(
    t,
    file,
    () => removeQrv(ctx, { qrvId: 'q-00000002', keepData: false }),
    'refused',
    'qrv-removed',
    /was removed already/,
  );
  await refused(
    t,
    file,
    () => removeQrv(ctx, { qrvId: 'q-00000001', keepData: false }),
    'busy',
    'qrv-busy',
    new RegExp(`QRV q-00000001 is being copied by job j-00000001 \\(copy, pid ${process.pid}\\)`),
  );
  t.equal(await fs.readFile(dest, 'utf8'), 'x', 'the file is untouched');

  // The job's process is gone (killed): the copying QRV can be removed.
  await ctx.catalog.update((data) => {
    data.jobs[0]!.pid = 2 ** 22 + 12345;
  });
  const summary = await removeQrv(ctx, { qrvId: 'q-00000001', keepData: false });
  t.match(summary.data, { qrv: { state: 'removed' }, deletedPath: dest });
});

t.test('a folder qrv may not write to: refused before anything changes (not as root)', async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('root may delete anywhere', () => undefined);
    return;
  }
  const { dir, ctx, file } = await setup(t);
  const locked = path.join(dir, 'locked');
  await fs.mkdir(locked);
  const dest = path.join(locked, 'q.img');
  await fs.writeFile(dest, 'x');
  await fs.chmod(locked, 0o555);
  t.teardown(() => fs.chmod(locked, 0o755));
  await ctx.catalog.update((data) => {
    data.qrvs.push(qrvRow('q-00000001', dest));
  });
  await refused(
    t,
    file,
    () => removeQrv(ctx, { qrvId: 'q-00000001', keepData: false }),
    'io',
    'delete-failed',
    /folder .*locked is not writable/,
  );
});
