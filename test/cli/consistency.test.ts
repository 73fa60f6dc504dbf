// Issue 18: a snapshot is a point in time, or it is not taken. A writer stamps every 4 KiB sector
// it writes with its sequence number in a replayable order (test/helpers/sector-writer.mjs); a copy
// is checked against that replay. On the host's ext4 (no reflink) the copy of an image being
// written is refused, or kept as crash-torn with --allow-inconsistent; on XFS with reflink it is a
// clone and a true point in time. A writer that opens, writes and closes between qrv's looks is
// caught by the change time. Freezes are bounded by --max-freeze: refused before freezing when the
// copy is estimated longer, thawed at the limit and discarded when it runs longer anyway, and the
// same when a hang after the freeze outlasts the guard (issue 12 item 9).
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import t, { type Test } from 'tap';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { replay } from '../helpers/replay.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'sector-writer.mjs');
const SECTORS = 16_384; // a 64 MiB image

/**
 * Starts the sector writer on `image`; resolves once it has written; killed at the end of the
 * test. The process comes wrapped: it is itself a promise (of its end), which an async function's
 * result would be awaited into.
 */
async function startWriter(
  t: Test,
  image: string,
  mode: 'hold' | 'reopen' = 'hold',
): Promise<{ writer: ResultPromise }> {
  const child = execa('node', [WRITER, image, String(SECTORS), mode], { reject: false });
  // ended, not only signalled, before the filesystem under its image is unmounted
  t.teardown(async () => {
    child.kill('SIGKILL');
    await child;
  });
  // Written once the sector of its first write carries a stamp (the image starts as zeros).
  const first = ((1 * 40503 + 7) % SECTORS) * 4096;
  for (let tries = 0; tries < 600; tries += 1) {
    if (child.exitCode !== null) throw new Error(`the writer ended: ${String((await child).stderr)}`);
    const handle = await fs.open(image, 'r');
    const { buffer } = await handle.read(Buffer.alloc(4), 0, 4, first);
    await handle.close();
    if (buffer.readUInt32LE(0) !== 0) return { writer: child };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the writer did not write within 60 s');
}

async function volumeOn(t: Test, dir: string): Promise<{ home: string; image: string; store: string }> {
  const image = await sparseFile(path.join(dir, 'disk.img'), SECTORS * 4096);
  const home = path.join(dir, 'home');
  const added = await qrv(home, ['volume', 'add', 'disk', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { home, image, store: path.join(dir, '.qrv-snapshots') };
}

t.test(
  'ext4 (no reflink): a copy of an image being written is refused, naming the writer; kept as crash-torn only with --allow-inconsistent',
  async (t) => {
    const dir = await tmpDir(t);
    const { home, image, store } = await volumeOn(t, dir);
    const { writer } = await startWriter(t, image);

    const refused = await qrv(home, ['snap', 'disk']);
    t.equal(refused.exitCode, 4, refused.stderr);
    t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    t.match(
      refused.stderr,
      new RegExp(
        `^qrv: volume "disk": .*disk\\.img changed while it was copied, so the copy is no single point in time and was discarded; open for writing by pid ${writer.pid} \\(node\\) \\(pause the writer from a pre-snapshot hook .*virsh domfsfreeze.*loop-mount.*reflink filesystem`,
      ),
    );
    const listed = await qrvJson(home, ['list', '--all']);
    t.same(
      listed.summary.snapshots.map((s: { state: string }) => s.state),
      ['failed'],
      'the snapshot is not recorded ready',
    );
    t.same(await fs.readdir(store).catch(() => []), [], 'and its file is gone (the store qrv made for it too)');

    const kept = await qrvJson(home, ['snap', 'disk', '--allow-inconsistent']);
    t.equal(kept.run.exitCode, 0, kept.run.stderr);
    t.match(kept.summary.snapshot, { state: 'ready', method: 'sparse-copy', consistency: 'crash-torn' });
    t.ok(
      kept.lines.some(
        (l) => l.message_type === 'warning' && /changed while it was copied.*crash-torn/.test(String(l.message)),
      ),
      'with a warning',
    );
    const replayed = await replay(kept.summary.snapshot.path, SECTORS);
    t.comment(`crash-torn copy: ${replayed.torn} of ${SECTORS} sectors match no single instant (at ${replayed.point})`);

    const long = await qrv(home, ['list', '--long']);
    t.match(long.stdout, /CONSISTENCY[\s\S]*sparse-copy\s+crash-torn/, 'list --long says so');
    const shown = await qrv(home, ['show', kept.summary.snapshot.id]);
    t.match(shown.stdout, /^consistency: crash-torn$/m, 'and show');
  },
);

t.test(
  'XFS with reflink: the clone of an image being written is a true point in time (replayed), three times of three',
  async (t) => {
    if (!lane(t, 'XFS reflink', { root: true, tools: ['mkfs.xfs', 'losetup', 'mount'] })) return;
    const dir = await tmpDir(t);
    const xfs = await mountLoopFs(t, dir, 'xfs', 512);
    const { home, image } = await volumeOn(t, xfs.mountpoint);
    const { writer } = await startWriter(t, image);
    for (let round = 1; round <= 3; round += 1) {
      const snap = await qrvJson(home, ['snap', 'disk']);
      t.equal(snap.run.exitCode, 0, snap.run.stderr);
      t.match(snap.summary.snapshot, { method: 'reflink', consistency: 'atomic', state: 'ready' });
      const replayed = await replay(snap.summary.snapshot.path, SECTORS);
      t.ok(replayed.point > 64, `round ${round}: the writer had written (${replayed.point} writes)`);
      t.equal(replayed.torn, 0, `round ${round}: every sector is as it was at write ${replayed.point}`);
    }
    // gone before the teardown unmounts the filesystem its image is on (whatever their order)
    writer.kill('SIGKILL');
    await writer;
  },
);

t.test("a writer that opens, writes and closes between qrv's looks is caught by the change time", async (t) => {
  const dir = await tmpDir(t);
  const { home, image, store } = await volumeOn(t, dir);
  await startWriter(t, image, 'reopen');
  // The copy is held open 1.5 s after it finished: the writer opens, writes and closes meanwhile.
  const run = await qrv(home, ['snap', 'disk'], { QRV_FAILPOINTS: 'mid-snapshot-copy=sleep:1500' });
  t.equal(run.exitCode, 4, run.stderr);
  t.match(run.stderr, /changed while it was copied/);
  t.same(await fs.readdir(store).catch(() => []), [], 'nothing is left (the store qrv made for it is gone too)');
});
