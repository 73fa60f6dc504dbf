// Archive generations through bin/qrv (F15), against each kind of store on a real server started
// by the test: a folder, sshd on loopback, an S3-protocol server on loopback. The same story runs
// against each: a first generation, a second after a small change that sends only the changed
// chunks, recovery of each from the store alone (the snapshots removed) byte for byte; then the
// failure cases once: a kill mid-send resumed without sending again what arrived, a damaged chunk
// found by recovery, an unreachable store that leaves nothing recorded.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256, writeAt } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { lane } from '../helpers/lanes.ts';
import { startSshd } from '../helpers/sshd.ts';
import { startS3 } from '../helpers/s3-server.ts';
import { mountTmpfs } from '../helpers/tmpfs.ts';
import { readPackIndex } from '../../src/archive/pack.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';

const MiB = 1024 * 1024;

async function volumeHome(t: Test) {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  // 10 MiB of random data in a 24 MiB ext4: 160 chunks of 64 KiB that do not compress
  const image = await ext4Image(dir, 'web', 24, { 'data.bin': randomBytes(10 * MiB), 'etc/app.conf': 'v=1\n' });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  return { dir, home, image };
}

async function snap(t: Test, home: string): Promise<{ id: string; path: string }> {
  const run = await qrvJson(home, ['snap', 'web']);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  return run.summary.snapshot as { id: string; path: string };
}

async function archive(t: Test, home: string, args: string[]) {
  const run = await qrvJson(home, ['archive', ...args]);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  return run.summary.archive as { id: string; bytesSent: number; bytesDeduplicated: number; state: string };
}

/** The story every store passes. */
async function story(t: Test, storeArgs: string[]): Promise<void> {
  const { dir, home, image } = await volumeHome(t);
  const added = await qrv(home, ['store', 'add', 'vault', ...storeArgs]);
  t.equal(added.exitCode, 0, added.stderr);
  const s1 = await snap(t, home);
  const first = await archive(t, home, [s1.id, '--to', 'vault']);
  t.equal(first.state, 'ready');
  t.ok(first.bytesSent >= 10 * MiB, `the random data went out (${first.bytesSent} bytes)`);
  const firstSum = await sha256(s1.path);

  await writeAt(image, 20 * MiB, randomBytes(512 * 1024));
  const s2 = await snap(t, home);
  const second = await archive(t, home, [s2.id, '--to', 'vault']);
  t.ok(
    second.bytesSent <= 1.5 * 512 * 1024,
    `the second sends only the changed chunks, at most 1.5 x their bytes (${second.bytesSent} bytes for 512 KiB)`,
  );
  t.ok(second.bytesDeduplicated >= 9 * MiB, `the rest was there already (${second.bytesDeduplicated} bytes)`);
  const secondSum = await sha256(s2.path);

  for (const s of [s1, s2]) t.equal((await qrv(home, ['unsnap', s.id])).exitCode, 0);
  const list = await qrv(home, ['list']);
  t.match(list.stdout, new RegExp(`${first.id} +web +${s1.id} .* ready`), 'qrv list shows the generations');
  for (const [generation, sum] of [
    [first.id, firstSum],
    [second.id, secondSum],
  ] as const) {
    const to = path.join(dir, `${generation}.img`);
    const run = await qrv(home, ['recover', 'web', '--from', generation, '--to', to]);
    t.equal(run.exitCode, 0, run.stderr);
    t.equal(await sha256(to), sum, `${generation} comes back byte for byte, from the store alone`);
  }

  // retention: a grid of one year keeps the newest; what only the first used goes from the store
  const pruned = await qrv(home, ['prune', '--archive-keep', '1y']);
  t.equal(pruned.exitCode, 0, pruned.stderr);
  t.match(pruned.stdout, `removed ${first.id} of web from vault: outside the grid 1y`);
  t.match(pruned.stdout, /vault: \d+ packs no generation uses removed/);
  const deep = await qrv(home, ['verify', second.id, '--deep']);
  t.equal(deep.exitCode, 0, `the kept one is whole after the prune: ${deep.stdout}`);
  const ls = await qrv(home, ['ls', `${second.id}:/etc`]);
  t.equal(ls.exitCode, 0, ls.stderr);
  t.match(ls.stdout, /^app\.conf$/m, "and its files are read, through the home's cache");
}

t.test('a folder store', async (t) => {
  const dir = await tmpDir(t);
  await story(t, ['--dir', path.join(dir, 'vault')]);
});

if (lane(t, 'sshd', { root: true, tools: ['ssh', 'ssh-keygen', '/usr/sbin/sshd'] }))
  t.test('an SSH store (a real sshd on loopback)', async (t) => {
    const sshd = await startSshd(t);
    const options = sshd.sshOptions.flatMap((o) => ['--ssh-option', o]);
    await story(t, ['--ssh', `root@127.0.0.1:${sshd.dir}/vault`, '--port', String(sshd.port), ...options]);
  });

t.test('an S3 store (s3rver on loopback)', async (t) => {
  const s3 = await startS3(t);
  await story(t, ['--s3', `s3://${s3.bucket}/web-host`, '--endpoint', s3.endpoint]);
});

t.test('a send killed midway resumes without sending again what arrived', async (t) => {
  const { home } = await volumeHome(t);
  const vault = path.join(home, '..', 'vault');
  t.equal((await qrv(home, ['store', 'add', 'vault', '--dir', vault, '--pack-size', '1M'])).exitCode, 0);
  const s1 = await snap(t, home);
  const killed = await qrv(home, ['archive', s1.id, '--to', 'vault'], { QRV_FAILPOINTS: 'mid-archive=kill' });
  t.not(killed.exitCode, 0, 'killed');
  const listed = await qrvJson(home, ['list']);
  const row = (listed.summary.archives as { id: string; state: string; jobId: string }[])[0]!;
  t.equal(row.state, 'sending', 'the generation is recorded as being sent, not ready');
  const store = await openDirStore(vault);
  t.teardown(() => store.close());
  const packs = () => store.list(`packs/${row.id}/`);
  const arrived = await packs();
  t.ok(arrived.length >= 1, `${arrived.length} pack(s) arrived before the kill`);
  let inArrived = 0;
  for (const pack of arrived)
    inArrived += (await readPackIndex(store, pack.key, pack.size, null)).filter((e) => e.kind === 'chunk').length;
  const doctor = await qrv(home, ['doctor']);
  t.match(doctor.stdout, `qrv archive --resume ${row.jobId}`, 'doctor offers the resume');
  const resumed = await qrvJson(home, ['archive', '--resume', row.jobId]);
  t.equal(resumed.run.exitCode, 0, resumed.run.stderr);
  const generation = resumed.summary.archive as { id: string; state: string };
  t.equal(generation.id, row.id, 'the same generation');
  t.equal(generation.state, 'ready');
  const detail = resumed.lines.find((l) => l.step === 'send chunks' && l.state === 'done')?.detail as string;
  const [, sent, there] = /: (\d+) sent .*, (\d+) already there/.exec(detail) ?? [];
  t.equal(Number(there), inArrived, `the ${inArrived} chunks in the packs that arrived are not sent again (${detail})`);
  t.ok(Number(sent) > 0, 'the rest is sent');
  t.ok((await packs()).length > arrived.length, 'in new packs');
  const to = path.join(home, '..', 'back.img');
  t.equal((await qrv(home, ['recover', 'web', '--from', row.id, '--to', to])).exitCode, 0);
  t.equal(await sha256(to), await sha256(s1.path), 'and it restores byte for byte');
});

t.test('a damaged chunk is found by recovery, which stops; an unreachable store records nothing', async (t) => {
  const { home, dir } = await volumeHome(t);
  const vault = path.join(dir, 'vault');
  t.equal((await qrv(home, ['store', 'add', 'vault', '--dir', vault])).exitCode, 0);
  const s1 = await snap(t, home);
  const first = await archive(t, home, [s1.id, '--to', 'vault']);
  // byte 100 of the first pack: in its first chunk, random data kept as it is
  const file = path.join(vault, 'packs', first.id, '00000001');
  const bytes = await fs.readFile(file);
  bytes[100] = bytes[100]! ^ 0xff;
  await fs.writeFile(file, bytes);
  const to = path.join(dir, 'back.img');
  const run = await qrv(home, ['recover', 'web', '--from', first.id, '--to', to]);
  t.equal(run.exitCode, 9, 'a verify failure');
  t.match(run.stderr, /damaged/);
  t.equal(
    run.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('qrv: ')).length,
    1,
    'one line',
  );

  await fs.rename(vault, `${vault}.gone`);
  const before = (await qrvJson(home, ['list'])).summary.archives as unknown[];
  const failed = await qrv(home, ['archive', s1.id, '--to', 'vault']);
  t.equal(failed.exitCode, 8);
  t.match(failed.stderr, /^qrv: the archive store .*vault does not exist/m);
  t.same((await qrvJson(home, ['list'])).summary.archives, before, 'no generation was recorded');
});

t.test('a host that lost its catalog finds its generations in the store, recovers and verifies them', async (t) => {
  const { home, dir } = await volumeHome(t);
  const vault = path.join(dir, 'vault');
  const locked = path.join(dir, 'locked');
  const keyFile = path.join(dir, 'archive.key');
  await fs.writeFile(keyFile, randomBytes(64), { mode: 0o600 });
  t.equal((await qrv(home, ['store', 'add', 'vault', '--dir', vault, '--pack-size', '1M'])).exitCode, 0);
  t.equal((await qrv(home, ['store', 'add', 'locked', '--dir', locked])).exitCode, 0);
  const s1 = await snap(t, home);
  const plain = await archive(t, home, [s1.id, '--to', 'vault']);
  const sealed = await archive(t, home, [s1.id, '--to', 'locked', '--encrypt', keyFile]);
  const sum = await sha256(s1.path);

  // a new, empty catalog: only the stores are left
  const fresh = path.join(dir, 'fresh-home');
  for (const [name, where] of [
    ['vault', vault],
    ['locked', locked],
  ])
    t.equal((await qrv(fresh, ['store', 'add', name!, '--dir', where!])).exitCode, 0, `${name} is added as it is`);
  const listed = await qrv(fresh, ['store', 'scan', 'vault']);
  t.equal(listed.exitCode, 0, listed.stderr);
  t.match(listed.stdout, new RegExp(`${plain.id} +web .* not in the catalog`));
  const noKey = await qrv(fresh, ['store', 'scan', 'locked', '--import']);
  t.equal(noKey.exitCode, 11, 'a sealed generation cannot be read without its key');
  t.match(noKey.stderr, new RegExp(`cannot read generation ${sealed.id} of web: .*encrypted`));
  t.match(noKey.stdout, /imported 0 generation/);
  t.match((await qrv(fresh, ['store', 'scan', 'vault', '--import'])).stdout, /imported 1 generation/);
  t.match(
    (await qrv(fresh, ['store', 'scan', 'locked', '--import', '--key', keyFile])).stdout,
    /imported 1 generation/,
  );
  for (const id of [plain.id, sealed.id]) {
    const to = path.join(dir, `${id}.img`);
    const run = await qrv(fresh, ['recover', 'web', '--from', id, '--to', to]);
    t.equal(run.exitCode, 0, run.stderr);
    t.equal(await sha256(to), sum, `${id} comes back byte for byte into a catalog that never had the volume`);
    const verified = await qrv(fresh, ['verify', id, '--deep']);
    t.equal(verified.exitCode, 0, verified.stderr);
    t.match(verified.stdout, /every segment and chunk matches its name, and the image reads as xxh64-blocks:/);
  }

  // damage the first chunk of the plain generation's first pack, remove its second pack: verify finds each
  const damaged = path.join(vault, 'packs', plain.id, '00000001');
  const bytes = await fs.readFile(damaged);
  bytes[64] = bytes[64]! ^ 0xff;
  await fs.writeFile(damaged, bytes);
  await fs.rm(path.join(vault, 'packs', plain.id, '00000002'));
  const quick = await qrv(fresh, ['verify', plain.id]);
  t.equal(quick.exitCode, 9);
  t.match(quick.stdout, `missing: pack packs/${plain.id}/00000002`, 'the missing pack is named');
  t.notMatch(quick.stdout, /^damaged:/m, 'without --deep no chunk is read');
  const deep = await qrv(fresh, ['verify', plain.id, '--deep']);
  t.equal(deep.exitCode, 9);
  t.match(deep.stdout, /damaged: chunk [0-9a-f]{64}\n/, 'the damaged chunk, by name, with --deep');
  t.equal(deep.stdout.match(/^damaged:/gm)?.length, 1, 'only that one');
  const row = (await qrvJson(fresh, ['show', plain.id])).summary.archive as {
    lastVerify: { ok: boolean; deep: boolean };
  };
  t.match(row.lastVerify, { ok: false, deep: true }, 'the result is kept on the row');
});

t.test('a full store is one line; the generation is recorded failed, never ready', async (t) => {
  if (!lane(t, 'tmpfs', { root: true, tools: ['mount'] })) return;
  const { home, dir } = await volumeHome(t);
  const small = await mountTmpfs(t, path.join(dir, 'small'), 8);
  const vault = path.join(small, 'vault');
  t.equal((await qrv(home, ['store', 'add', 'vault', '--dir', vault])).exitCode, 0);
  const s1 = await snap(t, home);
  const run = await qrv(home, ['archive', s1.id, '--to', 'vault']);
  t.equal(run.exitCode, 8, run.stderr);
  t.match(run.stderr, /^qrv: the archive store .*vault is full: ENOSPC \(free space there/m);
  t.equal(run.stderr.split('\n').filter((l) => l.startsWith('qrv: ')).length, 1, 'one line');
  const rows = (await qrvJson(home, ['list'])).summary.archives as { state: string }[];
  t.same(
    rows.map((r) => r.state),
    ['failed'],
    'the generation is failed: its manifest is not in the store',
  );
  const tmp = (await fs.readdir(vault, { recursive: true })).filter((f) => String(f).includes('.tmp-'));
  t.same(tmp, [], 'no half-written object is left');
});
