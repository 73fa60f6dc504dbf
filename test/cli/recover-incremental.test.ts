// `qrv recover VOLUME --from QRV --force` writes back only what differs (issue 16, F12): with the
// QRV's ledger (the volume read once, each block's hash compared), or with the provider's
// changed ranges (XFS reflink: a snapshot of the volume taken first, which keeps what the
// recovery overwrote); every block with --full, for a new --to, or when the ledger cannot be
// used. The result is the QRV, byte for byte, and a damaged QRV is found.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const SIZE = 64 * MiB;

interface Setup {
  home: string;
  image: string;
  qrvPath: string;
  qrvId: string;
  snapshotId: string;
}

/** A file volume of random data in `dir` and a QRV of it (its snapshot kept with `keep`). */
async function setup(t: Test, dir: string, keep = false): Promise<Setup> {
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  await fs.writeFile(image, randomBytes(SIZE));
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', image])).exitCode, 0);
  const run = await qrvJson(home, ['run', 'vol', '--to', `${dir}/`, ...(keep ? ['--keep-snapshot'] : [])]);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  const summary = run.summary as { qrv: { id: string; destination: string }; snapshot: { id: string } };
  return { home, image, qrvPath: summary.qrv.destination, qrvId: summary.qrv.id, snapshotId: summary.snapshot.id };
}

/** Overwrites `blocks` whole blocks spread over the image; returns their byte count. */
async function scribble(image: string, blocks: number): Promise<number> {
  const handle = await fs.open(image, 'r+');
  try {
    for (let i = 0; i < blocks; i++) await handle.write(randomBytes(BLOCK), 0, BLOCK, (i * 97 + 5) * BLOCK);
  } finally {
    await handle.close();
  }
  return blocks * BLOCK;
}

const same = async (a: string, b: string): Promise<boolean> =>
  Buffer.compare(await fs.readFile(a), await fs.readFile(b)) === 0;

interface Recovered {
  method: string;
  bytesRead: number;
  bytesWritten: number;
  before: string | null;
  checksum: string;
}

async function recover(t: Test, s: Setup, extra: string[] = []): Promise<Recovered> {
  const run = await qrvJson(s.home, ['recover', 'vol', '--from', s.qrvId, '--force', ...extra]);
  t.equal(run.run.exitCode, 0, run.run.stderr);
  return run.summary as unknown as Recovered;
}

t.test('the ledger: one read of the volume, writes of only the blocks that differ', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const s = await setup(t, dir);
  const changed = await scribble(s.image, 10); // 1 % of 64 MiB, near enough
  const r = await recover(t, s);
  t.equal(r.method, 'ledger');
  t.equal(r.bytesWritten, changed, 'writes exactly the blocks that differ');
  t.equal(r.bytesRead, SIZE + changed, 'reads the volume once, and the QRV only where it differs');
  t.equal(r.before, null, 'no snapshot taken');
  t.ok(await same(s.image, s.qrvPath), 'the volume is the QRV again, byte for byte');

  const again = await recover(t, s);
  t.equal(again.bytesWritten, 0, 'nothing differs: nothing written');
  t.equal(again.checksum, r.checksum);

  await scribble(s.image, 3);
  const plain = await qrv(s.home, ['recover', 'vol', '--from', s.qrvId, '--force']);
  t.equal(plain.exitCode, 0, plain.stderr);
  t.match(plain.stdout, /compare with the ledger: 3 of 1024 blocks of .* differ from q-/);
  t.match(plain.stdout, new RegExp(`^ledger: read ${SIZE + 3 * BLOCK} bytes, wrote ${3 * BLOCK} of ${SIZE}$`, 'm'));

  await scribble(s.image, 2);
  const full = await recover(t, s, ['--full']);
  t.equal(full.method, 'full', '--full writes every block');
  t.equal(full.bytesWritten, SIZE);
  t.ok(await same(s.image, s.qrvPath));

  const to = path.join(dir, 'elsewhere.img');
  const fresh = await qrvJson(s.home, ['recover', 'vol', '--from', s.qrvId, '--to', to]);
  t.equal(fresh.run.exitCode, 0, fresh.run.stderr);
  t.equal(fresh.summary.method, 'full', 'a new --to is written whole');
  t.ok(await same(to, s.qrvPath));
});

t.test('a damaged QRV: found where it is read, never trusted blindly', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const s = await setup(t, dir);
  await scribble(s.image, 4);
  // the QRV's block 5 (the first scribbled one) is damaged: the write-back reads it
  const handle = await fs.open(s.qrvPath, 'r+');
  await handle.write(Buffer.from('rot'), 0, 3, 5 * BLOCK + 100);
  await handle.close();
  const run = await qrvJson(s.home, ['recover', 'vol', '--from', s.qrvId, '--force']);
  t.equal(run.run.exitCode, 9, run.run.stderr);
  t.match(
    run.run.stderr,
    /block 5 of q-\w+ .* does not match its ledger: the QRV is damaged there; nothing from that block on was written/,
  );

  // the ledger gone: every block, with the reason
  const ledger = `${s.qrvPath}.qrvledger`;
  await fs.rm(ledger);
  const plain = await qrv(s.home, ['recover', 'vol', '--from', s.qrvId, '--force']);
  t.equal(plain.exitCode, 9, 'the damage is still found (the QRV is read whole)');
  t.match(plain.stderr, /warning: the ledger of QRV q-\w+ cannot be used: .*; writing every block/);
});

t.test('xfs reflink lane: the provider says what changed; a snapshot first keeps what is overwritten', async (t) => {
  if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'filefrag', 'losetup', 'mount'] })) return;
  const outside = await tmpDir(t, 'qrv-recover-xfs-');
  const { mountpoint } = await mountLoopFs(t, outside, 'xfs', 512);
  const s = await setup(t, mountpoint, true);
  const changed = await scribble(s.image, 10);
  const overwritten = await fs.readFile(s.image);
  const r = await recover(t, s);
  t.equal(r.method, 'provider');
  t.equal(r.bytesWritten, changed, 'writes the changed blocks');
  t.ok(r.bytesRead <= changed + 4 * BLOCK, `reads little more than them (${r.bytesRead} bytes)`);
  t.ok(await same(s.image, s.qrvPath), 'the volume is the QRV again');
  t.match(r.before, /^s-[0-9a-f]{12}$/, 'the snapshot taken first is named');
  const before = await qrvJson(s.home, ['show', r.before as string]);
  const kept = (before.summary as { snapshot: { path: string; label: string } }).snapshot;
  t.equal(kept.label, `before recovery from ${s.qrvId}`);
  t.ok(
    Buffer.compare(await fs.readFile(kept.path), overwritten) === 0,
    'it holds the volume as it was before the recovery',
  );
});

t.test('a recovery killed while it writes: doctor names it, --resume and doctor --fix finish it', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const s = await setup(t, dir);
  const changed = await scribble(s.image, 10);
  const killed = await qrv(s.home, ['recover', 'vol', '--from', s.qrvId, '--force'], {
    QRV_FAILPOINTS: 'mid-copy=kill',
  });
  t.equal(killed.exitCode, -1, 'killed (SIGKILL) halfway through the write-back');
  t.notOk(await same(s.image, s.qrvPath), 'the volume is half recovered');

  const doctor = await qrvJson(s.home, ['doctor']);
  t.equal(doctor.run.exitCode, 11);
  const finding = (doctor.summary.findings as Array<{ kind: string; subject: string; action: string }>).find(
    (f) => f.kind === 'resumable-recovery',
  );
  t.match(finding, { action: /^resume it: qrv recover --resume j-\w+$/ });
  const jobId = finding?.subject as string;
  const snap = await qrv(s.home, ['snap', 'vol']);
  t.equal(snap.exitCode, 4, 'no snapshot of the half-recovered volume');
  t.match(snap.stderr, new RegExp(`recovery job ${jobId} was killed while it wrote.*qrv recover --resume ${jobId}`));

  const resumed = await qrvJson(s.home, ['recover', '--resume', jobId]);
  t.equal(resumed.run.exitCode, 0, resumed.run.stderr);
  t.match(resumed.summary, { resumed: jobId, method: 'ledger', before: null });
  const written = resumed.summary.bytesWritten as number;
  t.ok(written > 0 && written < changed, `writes only what was left (${written} of ${changed} bytes)`);
  t.ok(await same(s.image, s.qrvPath), 'the volume is the QRV');
  const old = await qrvJson(s.home, ['show', jobId]);
  t.match(old.summary.job, { state: 'failed', warnings: [/^resumed by job j-\w+/] });
  t.equal((await qrv(s.home, ['doctor'])).exitCode, 0, 'nothing left to do');
  t.equal((await qrv(s.home, ['snap', 'vol'])).exitCode, 0, 'the volume can be snapshotted again');
  const again = await qrv(s.home, ['recover', '--resume', jobId]);
  t.equal(again.exitCode, 3, 'a resumed recovery is not resumed twice: its row is history');
  t.match(again.stderr, /no job with id/);

  await scribble(s.image, 10);
  const second = await qrv(s.home, ['recover', 'vol', '--from', s.qrvId, '--force'], {
    QRV_FAILPOINTS: 'mid-copy=kill',
  });
  t.equal(second.exitCode, -1);
  const fix = await qrvJson(s.home, ['doctor', '--fix']);
  t.equal(fix.run.exitCode, 0, fix.run.stderr);
  t.match(fix.summary.findings, [{ kind: 'resumable-recovery', fixed: true }]);
  t.ok(await same(s.image, s.qrvPath), 'doctor --fix finished it');
  const usage = await qrv(s.home, ['recover', 'vol', '--resume', jobId]);
  t.equal(usage.exitCode, 2, '--resume takes no volume');
});
