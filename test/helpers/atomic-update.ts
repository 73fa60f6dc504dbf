// The kill tests of QRV updates (test/cli/atomic-update*.test.ts): a QRV, a changed volume and
// its new snapshot; a copy killed at a failpoint or a random time; then `qrv doctor --fix` must
// leave the QRV at exactly the old or the new point in time (sha256), the row saying which, and
// `qrv verify` and `qrv recover --from` working.
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from './cli.ts';
import { BLOCK, MiB, change, randomImage } from './block-images.ts';

let state = 0;
/** Seeds the generator; returns the seed (QRV_SEED=<n> replays a run). */
export function seeded(): number {
  state = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
  return state;
}
export function next(n: number): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return Math.floor((state / 4294967296) * n);
}

const SIZE = 12 * MiB + 4321;
const sha = async (file: string) =>
  createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');

/** A volume with a ready QRV of its first snapshot, then changed (many blocks, or shrunk) and snapshotted again. */
export async function prepared(t: Test, where: string, shape: 'changed' | 'shrunk') {
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
export async function settles(t: Test, p: Awaited<ReturnType<typeof prepared>>, what: string): Promise<'old' | 'new'> {
  const fixed = await qrv(p.home, ['doctor', '--fix']);
  t.equal(fixed.exitCode, 0, `${what}: doctor --fix: ${fixed.stdout}${fixed.stderr}`);
  const again = await qrv(p.home, ['doctor']);
  t.equal(again.exitCode, 0, `${what}: nothing open after --fix: ${again.stdout}`);
  const row = (await qrvJson(p.home, ['show', p.old.row.id])).summary.qrv;
  const now = await sha(p.dest);
  t.equal(row.state, 'ready', `${what}: the QRV is ready`);
  if (now === p.old.sha) {
    t.same(
      { snapshotId: row.snapshotId, checksum: row.checksum, sizeBytes: row.sizeBytes },
      { snapshotId: p.s1.id, checksum: p.old.row.checksum, sizeBytes: p.old.row.sizeBytes },
      `${what}: rolled back, the row says so (checksum unchanged)`,
    );
    t.same(
      (await fs.readdir(p.dir)).filter((n) => /\.undo$|\.before$|\.partial$/.test(n)),
      [],
      `${what}: no journal, old ledger or partial left`,
    );
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

export type Scenario = [failpoint: string, mode: 'update' | 'full' | 'shrunk', checkpointMs: '5000' | '0'];

/** Kills an update at each scenario's failpoint. Default checkpoints (5 s): killed before the first; 0: after many (resumable). */
export async function killTests(t: Test, where: string, scenarios: Scenario[]) {
  for (const [failpoint, mode, checkpointMs] of scenarios) {
    const what = `${failpoint}=kill, ${mode}, checkpoints every ${checkpointMs} ms`;
    const p = await prepared(t, where, mode === 'shrunk' ? 'shrunk' : 'changed');
    const killed = await qrv(p.home, ['copy', p.s2.id, '--to', p.dest, ...(mode === 'full' ? ['--full'] : [])], {
      QRV_FAILPOINTS: `${failpoint}=kill`,
      QRV_CHECKPOINT_MS: checkpointMs,
    });
    t.equal(killed.exitCode, -1, `${what}: killed (${killed.stderr})`);
    // Killed before any progress was saved, nothing can be resumed: the QRV goes back. With
    // progress saved (mid-copy, or all done before the commit), doctor resumes it to the end.
    const resumable = checkpointMs === '0' && (failpoint === 'mid-copy' || failpoint === 'before-commit');
    t.equal(
      await settles(t, p, what),
      resumable ? 'new' : 'old',
      `${what}: ${resumable ? 'resumed to the end' : 'rolled back'}`,
    );
  }
}

export async function randomKills(t: Test, where: string, rounds: number) {
  for (let round = 0; round < rounds; round++) {
    const p = await prepared(t, where, 'changed');
    const full = next(2) === 1;
    const delay = 150 + next(500);
    const child = execa(BIN, ['--home', p.home, 'copy', p.s2.id, '--to', p.dest, ...(full ? ['--full'] : [])], {
      reject: false,
      env: { CI: '', QRV_CHECKPOINT_MS: String(next(2) * 50) },
    });
    await sleep(delay);
    child.kill('SIGKILL');
    const ended = await child;
    await settles(
      t,
      p,
      `random SIGKILL after ${delay} ms (${full ? '--full' : 'update'}, exit ${ended.exitCode ?? ended.signal})`,
    );
  }
}
