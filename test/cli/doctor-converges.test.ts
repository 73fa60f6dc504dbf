// Property test of `qrv doctor` (issue 12, item 8): after a random sequence of copies, runs,
// full rewrites and changes, killed at random failpoints or random times, one `doctor --fix`
// leaves nothing open (`doctor` exits 0) and every ready QRV verifies. Seeded: QRV_SEED=<n>
// replays a run.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { next, seeded } from '../helpers/atomic-update.ts';
import { BLOCK, MiB, change, randomImage } from '../helpers/block-images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { fileVolumeHome } from '../helpers/file-volume.ts';

const seed = seeded();
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);

const FAILPOINTS = ['after-snapshot', 'mid-copy', 'after-undo-save', 'before-checkpoint', 'before-commit'];

/** One step of a sequence; killed at a failpoint or at a random time, or not. */
async function step(home: string, env: { image: string; content: Buffer; dest: string }): Promise<string> {
  const what = ['copy', 'run', 'full', 'change'][next(4)] as string;
  if (what === 'change') {
    for (let i = 0; i < 1 + next(20); i++)
      await change(env.image, env.content, next(Math.floor(env.content.length / BLOCK)) * BLOCK, 1 + next(BLOCK));
    return 'change';
  }
  const kill = next(3); // 0: none, 1: failpoint, 2: random time
  const failpoint = FAILPOINTS[next(FAILPOINTS.length)] as string;
  const vars: Record<string, string> = {
    CI: '',
    QRV_CHECKPOINT_MS: String(next(2) * 20),
    ...(kill === 1 ? { QRV_FAILPOINTS: `${failpoint}=kill` } : {}),
  };
  let args: string[];
  if (what === 'run') args = ['run', 'vol', '--to', env.dest];
  else {
    const made = await qrvJson(home, ['snap', 'vol']);
    if (made.run.exitCode !== 0) return `snap failed (${made.run.exitCode})`;
    args = ['copy', made.summary.snapshot.id, '--to', env.dest, ...(what === 'full' ? ['--full'] : [])];
  }
  const child = execa(BIN, ['--home', home, ...args], { reject: false, env: vars, stdin: 'ignore' });
  if (kill === 2) {
    await sleep(100 + next(600));
    child.kill('SIGKILL');
  }
  const ended = await child;
  return `${what}${kill === 1 ? ` ${failpoint}` : kill === 2 ? ' random kill' : ''} → ${ended.exitCode ?? ended.signal}`;
}

/** A volume "vol" in a new home, with where its QRV goes. */
async function setup(size: number) {
  return fileVolumeHome(t, size, 'qrv-converge-');
}

t.test('property: after random kill sequences, one doctor --fix leaves nothing open', async (t) => {
  const started = Date.now();
  for (let sequence = 0; sequence < 5; sequence++) {
    const env = await setup(4 * MiB + next(MiB));
    const steps: string[] = [];
    for (let i = 0, n = 3 + next(2); i < n; i++) steps.push(await step(env.home, env));
    const story = `sequence ${sequence}: ${steps.join('; ')}`;
    const fixed = await qrv(env.home, ['doctor', '--fix']);
    t.equal(fixed.exitCode, 0, `${story}: doctor --fix: ${fixed.stdout}${fixed.stderr}`);
    const again = await qrv(env.home, ['doctor']);
    t.equal(again.exitCode, 0, `${story}: then nothing open: ${again.stdout}`);
    for (const row of JSON.parse(await fs.readFile(path.join(env.home, 'catalog.json'), 'utf8')).qrvs.filter(
      (q: { state: string }) => q.state === 'ready',
    )) {
      const verified = await qrv(env.home, ['verify', row.id]);
      t.equal(verified.exitCode, 0, `${story}: ready QRV ${row.id} verifies: ${verified.stdout}${verified.stderr}`);
    }
  }
  t.comment(`property test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
