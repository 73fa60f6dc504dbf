// `qrv promote` end to end through bin/qrv on real ext4 images (F12): the catalog moves the
// volume to the QRV, the old primary is retired, snapshots and copies follow the new primary,
// nothing ever writes or deletes the promoted QRV, other QRVs are updated correctly from their
// ledgers, refusals change nothing; as root, a mounted old primary is refused.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { failsCleanly } from '../helpers/assert.ts';
import { lane } from '../helpers/lanes.ts';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';

async function ok(t: Test, home: string, args: string[]): Promise<Record<string, any>> {
  const { run, summary } = await qrvJson(home, args);
  t.equal(run.exitCode, 0, `qrv ${args.join(' ')}: ${run.stderr}`);
  return summary;
}

async function scene(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 32, { 'hello.txt': 'hello\n', 'data/a.bin': Buffer.alloc(300_000, 7) });
  await fs.mkdir(path.join(dir, 'rep'));
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const s1 = (await ok(t, home, ['snap', 'web'])).snapshot;
  const q1 = (await ok(t, home, ['copy', s1.id, '--to', path.join(dir, 'rep', 'a.img')])).qrv;
  const q2 = (await ok(t, home, ['copy', s1.id, '--to', path.join(dir, 'rep', 'b.img')])).qrv;
  return { dir, home, image, s1, q1, q2, catalog: path.join(home, 'catalog.json') };
}

t.test('promote a file QRV: the catalog, snapshots and copies follow the new primary', async (t) => {
  const { dir, home, image, s1, q1, q2, catalog } = await scene(t);
  const atSnapshot = await sha256(image);
  await execa('debugfs', ['-w', '-R', 'rm /hello.txt', image]);
  const changed = await sha256(image);

  await failsCleanly(t, catalog, () => qrv(home, ['promote', 'q-00000000']), 3, /^qrv: no QRV with id "q-00000000"/);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['promote', q1.id]),
    4,
    new RegExp(
      `^qrv: the primary of "web", ${image}, still exists; promoting ${q1.id} makes the volume what it was at ${s1.id} .*\\(add --force`,
    ),
  );

  const { run, summary, lines } = await qrvJson(home, ['promote', q1.id, '--force']);
  t.equal(run.exitCode, 0, run.stderr);
  const a = path.join(dir, 'rep', 'a.img');
  t.match(summary.volume, {
    name: 'web',
    provider: 'file',
    path: a,
    options: { snapshotDir: path.join(dir, '.qrv-snapshots') },
  });
  t.match(summary.volume.retired, [
    { path: image, provider: 'file', promotedQrv: q1.id, snapshotId: s1.id, jobId: summary.job.id, retiredAt: String },
  ]);
  t.match(summary.qrv, { id: q1.id, state: 'promoted' });
  t.match(summary.job, { kind: 'promote', state: 'succeeded', qrvId: q1.id, snapshotId: s1.id, destination: a });
  t.same(
    summary.job.steps.map((s: { name: string }) => s.name),
    ['check QRV', 'check old primary', 'check new primary', 'switch primary'],
  );
  t.same(
    lines.filter((l) => l.message_type === 'step' && l.state === 'done').map((l) => `${l.phase}:${l.step}`),
    ['promote:check QRV', 'promote:check old primary', 'promote:check new primary', 'promote:switch primary'],
    'JSON step events',
  );
  const stored = JSON.parse(await fs.readFile(catalog, 'utf8'));
  t.equal(stored.schemaVersion, SCHEMA_VERSION);
  t.same(stored.volumes[0], summary.volume, 'the volume row as stored');
  t.equal(await sha256(image), changed, 'the old primary is kept as it was');
  t.equal(await sha256(a), atSnapshot, "the new primary holds the QRV's point in time");

  // Nothing writes, verifies or deletes the promoted QRV.
  await failsCleanly(t, catalog, () => qrv(home, ['promote', q1.id, '--force']), 4, /was promoted already/);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['remove', q1.id]),
    4,
    /^qrv: QRV q-\w+ was promoted .* is, or was, the primary of "web" \(qrv never deletes a primary/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['verify', q1.id]),
    4,
    /is promoted; only a ready QRV has content to verify/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['copy', s1.id, '--to', a, '--force']), 4, /is the volume itself/);
  t.ok(await fs.stat(a), 'still there');
  const listed = await ok(t, home, ['list', '--state', 'promoted']);
  t.same(
    listed.qrvs.map((q: { id: string }) => q.id),
    [q1.id],
  );

  // Snapshots are of the new primary now; the old one's stay readable and removable.
  await execa('debugfs', ['-w', '-R', 'rm /data/a.bin', a]);
  const s2 = (await ok(t, home, ['snap', 'web'])).snapshot;
  t.equal(await sha256(s2.path), await sha256(a), 'qrv snap took the new primary');
  t.not(await sha256(s2.path), atSnapshot);
  const back = path.join(dir, 'from-old.img');
  t.match(await ok(t, home, ['recover', 'web', '--from', s1.id, '--to', back]), { source: s1.id });
  t.equal(await sha256(back), atSnapshot, 'recover still reads a snapshot of the old primary');
  const ls = await ok(t, home, ['ls', `${s1.id}:/`, '--via', 'debugfs']);
  t.ok(
    ls.entries.some((e: { name: string }) => e.name === 'hello.txt'),
    'ls reads it too',
  );

  // The other QRV, last made from the old primary, is updated from its ledger: exact.
  const updated = await ok(t, home, ['copy', s2.id, '--to', path.join(dir, 'rep', 'b.img')]);
  t.match(updated.qrv, { id: q2.id, state: 'ready', snapshotId: s2.id });
  t.not(updated.copy.method, 'full', 'an update, not a rewrite');
  t.equal(
    await sha256(path.join(dir, 'rep', 'b.img')),
    await sha256(s2.path),
    "byte for byte the new primary's snapshot",
  );
  const verified = await qrvJson(home, ['verify', q2.id, '--deep']);
  t.equal(verified.run.exitCode, 0, verified.run.stderr);

  // `qrv run` protects the new primary; prune removes the old primary's snapshot, never the QRV.
  const ran = await ok(t, home, ['run', 'web', '--to', path.join(dir, 'rep', 'c.img')]);
  t.equal(await sha256(path.join(dir, 'rep', 'c.img')), await sha256(a), 'run copied the new primary');
  t.equal(ran.snapshot.volume, 'web');
  const pruned = await ok(t, home, ['prune', '--keep', '1']);
  t.ok(
    pruned.removed.some((r: { id: string }) => r.id === s1.id),
    "the old primary's snapshot is pruned like any other",
  );
  await fs.access(a);
  t.equal((await ok(t, home, ['show', q1.id])).qrv.state, 'promoted', 'the promoted QRV stays');
});

t.test('a QRV promoted in a folder keeps its name; the next copy into the folder gets another', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'db', 16, { 'a.txt': 'a\n' });
  const rep = path.join(dir, 'rep');
  await fs.mkdir(rep);
  t.equal((await qrv(home, ['volume', 'add', 'db', '--path', image])).exitCode, 0);
  const first = await ok(t, home, ['run', 'db', '--to', `${rep}/`]);
  t.equal(first.qrv.destination, path.join(rep, 'db.qrv.img'));
  const promoted = await ok(t, home, ['promote', 'db', '--as-of', 'now', '--force']);
  t.equal(promoted.qrv.id, first.qrv.id, 'promote VOLUME --as-of T: the newest QRV at that time');
  const second = await ok(t, home, ['run', 'db', '--to', `${rep}/`]);
  t.equal(second.qrv.destination, path.join(rep, 'db.qrv-2.img'), 'not the promoted file, which is the volume now');
  t.equal(
    await sha256(second.qrv.destination),
    await sha256(path.join(rep, 'db.qrv.img')),
    'a copy of the new primary',
  );
  const third = await ok(t, home, ['run', 'db', '--to', `${rep}/`]);
  t.equal(third.qrv.destination, second.qrv.destination, 'and that QRV is the one the folder keeps from then on');
  t.equal(third.qrv.id, second.qrv.id);
});

t.test('plain output, a QRV from a pool leaves it, a QRV not ready is refused', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'db', 16, { 'x.txt': 'x\n' });
  t.equal((await qrv(home, ['volume', 'add', 'db', '--path', image])).exitCode, 0);
  const member = path.join(dir, 'm1.img');
  await ok(t, home, ['pool', 'add', 'p']);
  await ok(t, home, ['pool', 'member', 'add', 'p', member, '--capacity', '64M']);
  const s = (await ok(t, home, ['snap', 'db'])).snapshot;
  const q = (await ok(t, home, ['copy', s.id, '--to', 'pool:p'])).qrv;
  const catalog = path.join(home, 'catalog.json');
  // A QRV left failed by an unfinished copy is refused.
  const data = JSON.parse(await fs.readFile(catalog, 'utf8'));
  data.qrvs[0].state = 'failed';
  await fs.writeFile(catalog, JSON.stringify(data));
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['promote', q.id, '--force']),
    4,
    /is failed, not ready: its copy did not finish/,
  );
  data.qrvs[0].state = 'ready';
  data.qrvs[0].lastVerify = { at: new Date().toISOString(), ok: false, badBlocks: 2, deep: false };
  await fs.writeFile(catalog, JSON.stringify(data));
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['promote', q.id, '--force']),
    4,
    /failed its last verify \(2 bad blocks/,
  );
  data.qrvs[0].lastVerify = null;
  await fs.writeFile(catalog, JSON.stringify(data));

  await fs.rm(image); // the disaster: the primary is gone, so no --force is needed
  const plain = await qrv(home, ['promote', q.id]);
  t.equal(plain.exitCode, 0, plain.stderr);
  const lines = plain.stdout.trim().split('\n');
  t.match(lines, [
    new RegExp(
      `^promote: check QRV: ${q.id} at ${member} \\(file\\), as of ${s.id} \\(.*\\), never verified \\([\\d.]+ ms\\)$`,
    ),
    new RegExp(`^promote: check old primary: ${image}: gone \\(`),
    /^promote: check new primary: .*: 16777216 bytes \(/,
    new RegExp(`^promote: switch primary: db: ${image} -> ${member} \\(`),
    new RegExp(`^promoted QRV ${q.id}: volume db is now ${member} \\(file\\), as it was at ${s.id}`),
    new RegExp(`^the old primary ${image} \\(file\\) is retired: it was gone$`),
    new RegExp(`^1 snapshot\\(s\\) of the old primary stay listed and readable \\(recover, ls\\): ${s.id}$`),
    new RegExp(`^member ${member} left pool p: it holds the primary now$`),
    /^next: use .* `qrv snap db` and `qrv run db` protect it from now on$/,
  ]);
  const pool = await ok(t, home, ['pool', 'show', 'p']);
  t.same(pool.pool.members, [], 'the pool no longer offers it');
  t.equal((await ok(t, home, ['volume', 'list'])).volumes[0].path, member);
});

t.test('root: a mounted old primary is refused, and so is recovering over a mounted volume', async (t) => {
  if (!lane(t, 'loop mount', { root: true, tools: ['losetup', 'mount'] })) return;
  const { dir, home, image, s1, q1, catalog } = await scene(t);
  const mnt = path.join(dir, 'mnt');
  await fs.mkdir(mnt);
  const loop = (await execa('losetup', ['-f', '--show', image])).stdout.trim();
  t.teardown(async () => {
    await execa('umount', [mnt]).catch(() => undefined);
    await execa('losetup', ['-d', loop]).catch(() => undefined);
  });
  await execa('mount', [loop, mnt]);
  const where = `mounted on ${mnt} \\(through ${loop}\\)`;
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['promote', q1.id, '--force']),
    4,
    new RegExp(
      `^qrv: the primary of "web", ${image}, is attached to ${loop}, ${where} \\(stop what uses it and unmount it`,
    ),
  );
  const json = await qrvJson(home, ['promote', q1.id, '--force']);
  t.match(JSON.parse(json.run.stderr), { message_type: 'error', code: 'volume-mounted', exitCode: 4 });
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', 'web', '--from', s1.id, '--force']),
    4,
    new RegExp(`^qrv: ${image} is ${where}; recovery would write under it \\(.*not even a frozen one\\)$`),
  );
  await execa('umount', [mnt]);
  // Attached but not mounted: the old refusal, still.
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', 'web', '--from', s1.id, '--force']),
    4,
    new RegExp(`^qrv: ${image} is attached to ${loop} \\(unmount and detach it`),
  );
});
