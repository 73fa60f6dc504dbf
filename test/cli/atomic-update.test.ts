// End to end through bin/qrv: a QRV update killed at any point (failpoints, random SIGKILLs)
// leaves the QRV at its previous point in time or, after `qrv doctor --fix`, at exactly the old
// or the new one (sha256), with the catalog row saying which; `qrv recover --from` then works.
// On the host's root filesystem (ext4: no reflink) and on a loop-mounted XFS with reflink.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { BLOCK, MiB, change, randomImage } from '../helpers/block-images.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const seed = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);
let state = seed;
function next(n: number): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return Math.floor((state / 4294967296) * n);
}

const SIZE = 12 * MiB + 4321;
const sha = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

/** A volume with a ready QRV of its first snapshot, then changed (many blocks, or shrunk) and snapshotted again. */
async function prepared(t: Test, where: string, shape: 'changed' | 'shrunk') {
  const dir = await fs.mkdtemp(path.join(where, 'qrv-atomic-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  const content = await randomImage(image, SIZE);
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image])).exitCode, 0);
  const s1 = (await qrvJson(home, ['snap', 'vol'])).summary.snapshot;
  const dest = path.join(dir, 'vol.qrv');
  const first = await qrvJson(home, ['copy', s1.id, '--to', dest]);
  t.equal(first.run.exitCode, 0, first.run.stderr);
  const old = { sha: await sha(dest), row: first.summary.qrv };
  // About a third of the blocks change (several batches of the undo journal), or the tail goes.
  if (shape === 'shrunk') await fs.truncate(image, SIZE - 2 * MiB - 77);
  for (let i = 0; i < 80; i++) await change(image, content, next(Math.floor(SIZE / BLOCK) - 2 * 16) * BLOCK, BLOCK);
  const s2 = (await qrvJson(home, ['snap', 'vol'])).summary.snapshot;
  return { dir, home, dest, s1, s2, old, fresh: await sha(s2.path) };
}

/** After a kill: doctor --fix, then doctor finds nothing, and the QRV is the old or the new point in time, as its row says. */
async function settles(t: Test, p: Awaited<ReturnType<typeof prepared>>, what: string): Promise<'old' | 'new'> {
  const fixed = await qrv(p.home, ['doctor', '--fix']);
  t.equal(fixed.exitCode, 0, `${what}: doctor --fix: ${fixed.stdout}${fixed.stderr}`);
  const again = await qrv(p.home, ['doctor']);
  t.equal(again.exitCode, 0, `${what}: nothing open after --fix: ${again.stdout}`);
  const row = (await qrvJson(p.home, ['show', p.old.row.id])).summary.qrv;
  const now = await sha(p.dest);
  t.equal(row.state, 'ready', `${what}: the QRV is ready`);
  if (now === p.old.sha) {
    t.same({ snapshotId: row.snapshotId, checksum: row.checksum, sizeBytes: row.sizeBytes }, { snapshotId: p.s1.id, checksum: p.old.row.checksum, sizeBytes: p.old.row.sizeBytes }, `${what}: rolled back, the row says so (checksum unchanged)`);
    await t.resolveMatch(fs.readdir(p.dir), (names: string[]) => !names.some((n) => /\.undo$|\.before$|\.partial$/.test(n)), `${what}: no journal, old ledger or partial left`);
  } else {
    t.equal(now, p.fresh, `${what}: the QRV holds exactly the old or the new point in time`);
    t.equal(row.snapshotId, p.s2.id, `${what}: completed, the row says so`);
  }
  const verified = await qrv(p.home, ['verify', row.id]);
  t.equal(verified.exitCode, 0, `${what}: qrv verify passes: ${verified.stdout}${verified.stderr}`);
  const out = path.join(p.dir, 'recovered.img');
  const recovered = await qrv(p.home, ['recover', 'vol', '--from', row.id, '--to', out]);
  t.equal(recovered.exitCode, 0, `${what}: recover --from the QRV works: ${recovered.stderr}`);
  t.equal(await sha(out), now, `${what}: and gives its point in time`);
  await fs.rm(out);
  return now === p.old.sha ? 'old' : 'new';
}

const FAILPOINTS = ['after-undo-save', 'mid-copy', 'before-checkpoint', 'before-commit'];

async function killTests(t: Test, where: string, modes: Array<'update' | 'full' | 'shrunk'>) {
  for (const failpoint of FAILPOINTS) {
    for (const mode of modes) {
      // Default checkpoints (5 s): killed before the first one. QRV_CHECKPOINT_MS=0: after many (resumable).
      for (const checkpointMs of mode === 'update' ? ['5000', '0'] : ['5000']) {
        const what = `${failpoint}=kill, ${mode}, checkpoints every ${checkpointMs} ms`;
        const p = await prepared(t, where, mode === 'shrunk' ? 'shrunk' : 'changed');
        const killed = await qrv(p.home, ['copy', p.s2.id, '--to', p.dest, ...(mode === 'full' ? ['--full'] : [])], { QRV_FAILPOINTS: `${failpoint}=kill`, QRV_CHECKPOINT_MS: checkpointMs });
        t.equal(killed.exitCode, -1, `${what}: killed (${killed.stderr})`);
        const outcome = await settles(t, p, what);
        // Killed before its first checkpoint, nothing can be resumed: the QRV goes back.
        if (checkpointMs === '5000' && failpoint !== 'before-commit') t.equal(outcome, 'old', `${what}: rolled back`);
        if (checkpointMs === '0' && failpoint !== 'after-undo-save') t.equal(outcome, 'new', `${what}: resumed to the end`);
      }
    }
  }
}

async function randomKills(t: Test, where: string, rounds: number) {
  for (let round = 0; round < rounds; round++) {
    const p = await prepared(t, where, 'changed');
    const full = next(2) === 1;
    const delay = 150 + next(500);
    const child = execa(BIN, ['--home', p.home, 'copy', p.s2.id, '--to', p.dest, ...(full ? ['--full'] : [])], { reject: false, env: { CI: '', QRV_CHECKPOINT_MS: String(next(2) * 50) } });
    await sleep(delay);
    child.kill('SIGKILL');
    const ended = await child;
    await settles(t, p, `random SIGKILL after ${delay} ms (${full ? '--full' : 'update'}, exit ${ended.exitCode ?? ended.signal})`);
  }
}

t.test('ext4 (host root filesystem): a QRV update killed at each failpoint settles at the old or the new point in time', async (t) => {
  await killTests(t, await tmpDir(t, 'qrv-atomic-ext4-'), ['update', 'full', 'shrunk']);
});

t.test('ext4: random SIGKILLs during updates', async (t) => {
  await randomKills(t, await tmpDir(t, 'qrv-atomic-rnd-'), 4);
});

t.test('xfs reflink lane: the same kills on a loop-mounted XFS', async (t) => {
  if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'losetup', 'mount'] })) return;
  const { mountpoint } = await mountLoopFs(t, await tmpDir(t, 'qrv-atomic-xfs-'), 'xfs', 400);
  await killTests(t, mountpoint, ['update', 'full']);
  await randomKills(t, mountpoint, 2);
});
