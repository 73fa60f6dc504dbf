// End to end: `qrv pool …` and `qrv remove` through the real bin/qrv, on real files.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/store.ts';
import { reserveMember } from '../../src/pools/reserve.ts';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { failsCleanly } from '../helpers/assert.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

async function setup(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  return { dir, home, catalog: path.join(home, 'catalog.json') };
}

async function ok(t: Test, home: string, args: string[]) {
  const result = await qrvJson(home, args);
  t.equal(result.run.exitCode, 0, `${args.join(' ')}: ${result.run.stderr}`);
  t.equal(result.summary.message_type, 'summary');
  return result.summary;
}

t.test('pool add, member add with capacities, list, show, member remove, remove', async (t) => {
  const { dir, home } = await setup(t);
  t.match(await ok(t, home, ['pool', 'add', 'fast']), { pool: { name: 'fast', members: [] } });
  const sizes: [string, string, number][] = [
    ['a.img', '10G', 10 * GiB],
    ['b.img', '512MiB', 512 * MiB],
    ['c.img', '2g', 2 * GiB],
  ];
  for (const [name, given, bytes] of sizes) {
    const added = await ok(t, home, ['pool', 'member', 'add', 'fast', path.join(dir, name), '--capacity', given]);
    t.match(added.member, {
      path: path.join(dir, name),
      kind: 'file',
      capacityBytes: bytes,
      capacityFrom: 'given',
      qrvId: null,
      volume: null,
      addedAt: String,
    });
    t.equal(added.pool, 'fast');
  }
  const measured = await ok(t, home, ['pool', 'member', 'add', 'fast', path.join(dir, 'd.img')]);
  t.match(measured.member, { capacityFrom: 'filesystem', capacityBytes: Number });
  t.ok(measured.member.capacityBytes > 0, 'the free space of the filesystem');
  await ok(t, home, ['pool', 'add', 'slow']);

  const listed = await ok(t, home, ['pool', 'list']);
  t.same(
    listed.pools.map((p: { name: string }) => p.name),
    ['fast', 'slow'],
  );
  t.same(listed.pools[0].members.map((m: { capacityBytes: number }) => m.capacityBytes).slice(0, 3), [
    10 * GiB,
    512 * MiB,
    2 * GiB,
  ]);
  const plain = await qrv(home, ['pool', 'list']);
  t.equal(plain.exitCode, 0);
  t.match(plain.stdout, /^POOL\s+MEMBERS\s+FREE\s+CAPACITY\s+LARGEST FREE\nfast\s+4\s+4\s.*\nslow\s+0\s+0\s+0 B\s+-$/);

  const shown = await ok(t, home, ['pool', 'show', 'fast']);
  t.equal(shown.pool.members.length, 4);
  const showPlain = await qrv(home, ['pool', 'show', 'fast']);
  t.match(showPlain.stdout, /pool fast, created .*, 4 member\(s\), 4 free/);
  t.match(showPlain.stdout, new RegExp(`${path.join(dir, 'b.img')}\\s+file\\s+512\\.0 MiB\\s+given\\s+free`));
  t.notMatch(showPlain.stdout, /\x1b/, 'no escape codes');

  const removed = await ok(t, home, ['pool', 'member', 'remove', 'fast', path.join(dir, 'b.img')]);
  t.match(removed.member, { path: path.join(dir, 'b.img') });
  t.same(
    (await ok(t, home, ['pool', 'show', 'fast'])).pool.members.map((m: { path: string }) => path.basename(m.path)),
    ['a.img', 'c.img', 'd.img'],
  );
  await ok(t, home, ['pool', 'remove', 'fast']);
  t.same(
    (await ok(t, home, ['pool', 'list'])).pools.map((p: { name: string }) => p.name),
    ['slow'],
  );
  t.same(await fs.readdir(dir), ['home'], 'no member file was created or deleted');
});

t.test('bad input: one line, a documented exit code, the catalog untouched', async (t) => {
  const { dir, home, catalog } = await setup(t);
  await ok(t, home, ['pool', 'add', 'fast']);
  await ok(t, home, ['pool', 'add', 'slow']);
  await ok(t, home, ['pool', 'member', 'add', 'fast', path.join(dir, 'a.img'), '--capacity', '1G']);
  const m = path.join(dir, 'm.img');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'nope', m, '--capacity', '1G']),
    3,
    /^qrv: no pool named "nope" \(known pools: fast, slow\)$/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['pool', 'show', 'nope']), 3, /no pool named "nope"/);
  await failsCleanly(t, catalog, () => qrv(home, ['pool', 'remove', 'nope']), 3, /no pool named "nope"/);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'fast', m, '--capacity', '10Q']),
    2,
    /^qrv: --capacity "10Q" is not a size \(write a number and a unit/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'fast', m, '--capacity', '0']),
    2,
    /--capacity "0" is not a size/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'fast', m, '--capacity']),
    2,
    /argument missing/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'slow', path.join(dir, 'a.img')]),
    4,
    /a\.img is a member of pool "fast" already \(a path is in one pool only/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'add', 'fast', path.join(dir, 'no', 'x.img')]),
    4,
    /folder .* does not exist/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'remove', 'fast', m]),
    3,
    /pool "fast" has no member/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['pool', 'add', 'fast']), 4, /a pool named "fast" exists already/);
  await failsCleanly(t, catalog, () => qrv(home, ['pool', 'add', 'a/b']), 2, /pool name "a\/b" is not allowed/);
  await failsCleanly(t, catalog, () => qrv(home, ['remove', 'q-0000dead']), 3, /no QRV with id "q-0000dead"/);
  const json = await qrvJson(home, ['pool', 'member', 'add', 'fast', m, '--capacity', 'lots']);
  t.equal(json.run.exitCode, 2);
  t.match(JSON.parse(json.run.stderr), {
    message_type: 'error',
    code: 'bad-size',
    exitCode: 2,
    message: '--capacity "lots" is not a size',
  });
});

t.test('a reserved member cannot be removed, nor its pool; qrv remove gives it back', async (t) => {
  const { dir, home, catalog } = await setup(t);
  await ok(t, home, ['pool', 'add', 'fast']);
  const member = path.join(dir, 'm.img');
  await ok(t, home, ['pool', 'member', 'add', 'fast', member, '--capacity', '1G']);
  // What the copy phase does when it takes a member: reserve it and write the QRV row, in one transaction.
  const cat = await Catalog.open(home);
  await cat.update((data) => {
    const taken = reserveMember(data, 'fast', 'web', MiB, 'q-00000001');
    const at = new Date().toISOString();
    data.qrvs.push({
      id: 'q-00000001',
      volume: 'web',
      snapshotId: 's-00000001',
      destination: taken.path,
      destinationKind: 'file',
      state: 'ready',
      sizeBytes: MiB,
      blockSize: 65536,
      checksum: null,
      ledger: null,
      createdAt: at,
      updatedAt: at,
      history: [],
      pool: 'fast',
      lastVerify: null,
    });
  });
  await fs.writeFile(member, Buffer.alloc(MiB, 5));
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['pool', 'member', 'remove', 'fast', member]),
    4,
    /^qrv: member .*m\.img of pool "fast" holds QRV q-00000001 of "web" \(remove the QRV first with `qrv remove q-00000001`\)$/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['pool', 'remove', 'fast']), 4, /pool "fast" still holds 1 QRV/);
  t.match((await qrv(home, ['pool', 'show', 'fast'])).stdout, /m\.img\s+file\s+1\.00 GiB\s+given\s+q-00000001 \(web\)/);

  const removed = await ok(t, home, ['remove', 'q-00000001']);
  t.match(removed, {
    qrv: { id: 'q-00000001', state: 'removed' },
    deletedPath: member,
    releasedMember: { pool: 'fast', path: member },
  });
  await t.rejects(fs.stat(member), { code: 'ENOENT' });
  t.match((await ok(t, home, ['pool', 'show', 'fast'])).pool.members[0], { qrvId: null, volume: null });
  await ok(t, home, ['pool', 'member', 'remove', 'fast', member]);
  await ok(t, home, ['pool', 'remove', 'fast']);
});

t.test('qrv remove of a QRV made by run: marks it removed and deletes the file; --keep-data keeps it', async (t) => {
  const { dir, home, catalog } = await setup(t);
  const image = await ext4Image(dir, 'vol', 16, { 'hello.txt': 'hello\n' });
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image])).exitCode, 0);
  const dest = path.join(dir, 'vol.qrv.img');
  const made = await ok(t, home, ['run', 'vol', '--to', dest]);
  t.equal(made.qrv.destination, dest);

  const plain = await qrv(home, ['remove', made.qrv.id]);
  t.equal(plain.exitCode, 0, plain.stderr);
  t.equal(plain.stdout, `removed QRV ${made.qrv.id} of vol; deleted its image ${dest}`);
  await t.rejects(fs.stat(dest), { code: 'ENOENT' }, 'the image is deleted');
  const all = await ok(t, home, ['list', '--all']);
  t.match(all.qrvs, [{ id: made.qrv.id, state: 'removed' }]);
  t.same((await ok(t, home, ['list'])).qrvs, [], 'hidden from list');
  await failsCleanly(t, catalog, () => qrv(home, ['remove', made.qrv.id]), 4, /was removed already/);
  t.equal(await sha256(image), await sha256(image), 'the volume is still readable');

  const again = await ok(t, home, ['run', 'vol', '--to', dest]);
  t.not(again.qrv.id, made.qrv.id, 'a new QRV at the same place');
  const kept = await ok(t, home, ['remove', again.qrv.id, '--keep-data']);
  t.match(kept, { qrv: { state: 'removed' }, deletedPath: null });
  t.equal(await sha256(dest), await sha256(image), 'the data is kept, still the replica');
});
