// `qrv doctor` through bin/qrv: snapshots a killed `run` leaked are finished (copied, removed);
// another home's snapshots of the same volume are left alone; and after any sequence of killed
// copies, runs and full rewrites, one `doctor --fix` leaves nothing open (seeded property test:
// QRV_SEED=<n> replays a run).
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { BLOCK, MiB, change, randomImage } from '../helpers/block-images.ts';
import { tmpDir } from '../helpers/tmp.ts';

const seed = Number(process.env.QRV_SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);
let state = seed;
function next(n: number): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return Math.floor((state / 4294967296) * n);
}

async function setup(t: Test, size: number) {
  const dir = await tmpDir(t, 'qrv-doctor-');
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  const content = await randomImage(image, size);
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image, content, dest: path.join(dir, 'vol.qrv') };
}

const readCatalog = async (home: string) => JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')) as Record<string, any>;
const kinds = (summary: Record<string, any>) => summary.findings.map((f: { kind: string }) => f.kind).sort();

t.test('a run killed after its snapshot (by its pre-copy hook) leaks no snapshot: doctor finishes the copy and removes it', async (t) => {
  const { home, dest } = await setup(t, 3 * MiB + 17);
  const killed = await qrv(home, ['run', 'vol', '--to', dest, '--hook', 'pre-copy=kill -9 $PPID']);
  t.equal(killed.exitCode, -1, `killed by its hook (a signal: no exit status): ${killed.stderr}`);
  const left = (await readCatalog(home)).snapshots[0];
  t.match(left, { state: 'ready', persistUntil: null, copiedTo: null }, 'a ready snapshot with no expiry is left');

  const found = await qrvJson(home, ['doctor']);
  t.equal(found.run.exitCode, 11, 'doctor has findings');
  t.same(kinds(found.summary), ['dead-job', 'leaked-snapshot']);
  t.match(found.summary.findings[1], { subject: left.id, what: /was left by run job j-.*, which was killed before it copied and removed it/, action: `finish the copy to ${dest}, then remove it` });
  const check = await qrv(home, ['check']);
  t.equal(check.exitCode, 1, `qrv check warns: ${check.stdout}`);
  t.match(check.stdout, /^QRV WARNING - 2 warnings: job j-\S+ \(run of vol\) is marked running but process \d+ is gone \(run `qrv doctor`\)/);
  t.match(check.stdout, new RegExp(`^WARNING: snapshot ${left.id} of vol was left by run job .*\\(run \`qrv doctor\`\\)$`, 'm'));

  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
  const after = await readCatalog(home);
  t.match(after.snapshots.find((s: { id: string }) => s.id === left.id), { state: 'removed', copiedTo: /^q-/ }, 'copied, then removed as its rules say');
  await t.rejects(fs.stat(left.path), 'the snapshot file is gone');
  t.match(after.qrvs[0], { state: 'ready', snapshotId: left.id, destination: dest });
  t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing open');
  const checked = await qrv(home, ['check']);
  t.equal(checked.exitCode, 0, `check is OK again: the run was finished by a run job: ${checked.stdout}`);
});

t.test('a run SIGKILLed mid-copy: doctor resumes the copy and removes the snapshot', async (t) => {
  const { home, dest } = await setup(t, 5 * MiB + 3);
  const killed = await qrv(home, ['run', 'vol', '--to', dest], { QRV_FAILPOINTS: 'mid-copy=kill', QRV_CHECKPOINT_MS: '0' });
  t.equal(killed.exitCode, -1, 'SIGKILLed');
  const found = await qrvJson(home, ['doctor']);
  t.same(kinds(found.summary), ['leaked-snapshot', 'resumable-copy']);
  const fixed = await qrv(home, ['doctor', '--fix']);
  t.equal(fixed.exitCode, 0, fixed.stdout + fixed.stderr);
  const after = await readCatalog(home);
  t.match(after.snapshots[0], { state: 'removed' });
  t.match(after.qrvs[0], { state: 'ready', snapshotId: after.snapshots[0].id });
  t.equal((await qrv(home, ['doctor'])).exitCode, 0, 'nothing open');
});

t.test("two homes protecting one image leave each other's snapshots alone", async (t) => {
  const { dir, home, image } = await setup(t, 2 * MiB);
  const other = path.join(dir, 'home2');
  t.equal((await qrv(other, ['volume', 'add', 'vol', '--provider', 'file', '--path', image])).exitCode, 0);
  const mine = (await qrvJson(home, ['snap', 'vol'])).summary.snapshot;
  const theirs = (await qrvJson(other, ['snap', 'vol'])).summary.snapshot;
  t.equal(path.dirname(mine.path), path.dirname(theirs.path), 'one snapshot store');
  for (const [h, foreign] of [[home, theirs], [other, mine]] as const) {
    const looked = await qrvJson(h, ['doctor', '--fix']);
    t.equal(looked.run.exitCode, 0, 'no findings: the other home snapshot is not one');
    t.same(looked.summary.findings, []);
    t.match(looked.summary.foreign, [new RegExp(`${foreign.id}`)], 'reported as foreign');
    t.ok(await fs.stat(foreign.path), 'and left alone');
  }
  // What this home made and forgot (its row says removed) is still removed.
  await fs.copyFile(mine.path, `${mine.path}.keep`);
  t.equal((await qrv(home, ['unsnap', mine.id])).exitCode, 0);
  await fs.rename(`${mine.path}.keep`, mine.path);
  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.same(kinds(fixed.summary), ['orphan-snapshot']);
  await t.rejects(fs.stat(mine.path));
  t.ok(await fs.stat(theirs.path), "the other home's snapshot is still there");
});

const FAILPOINTS = ['after-snapshot', 'mid-copy', 'after-undo-save', 'before-checkpoint', 'before-commit'];

/** One step of a sequence; killed at a failpoint or at a random time, or not. */
async function step(home: string, env: { image: string; content: Buffer; dest: string }): Promise<string> {
  const what = ['copy', 'run', 'full', 'change'][next(4)] as string;
  if (what === 'change') {
    for (let i = 0; i < 1 + next(20); i++) await change(env.image, env.content, next(Math.floor(env.content.length / BLOCK)) * BLOCK, 1 + next(BLOCK));
    return 'change';
  }
  const kill = next(3); // 0: none, 1: failpoint, 2: random time
  const failpoint = FAILPOINTS[next(FAILPOINTS.length)] as string;
  const vars: Record<string, string> = { CI: '', QRV_CHECKPOINT_MS: String(next(2) * 20), ...(kill === 1 ? { QRV_FAILPOINTS: `${failpoint}=kill` } : {}) };
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

t.test('property: after random kill sequences, one doctor --fix leaves nothing open', async (t) => {
  const started = Date.now();
  for (let sequence = 0; sequence < 6; sequence++) {
    const env = await setup(t, 4 * MiB + next(MiB));
    const steps: string[] = [];
    for (let i = 0, n = 3 + next(3); i < n; i++) steps.push(await step(env.home, env));
    const story = `sequence ${sequence}: ${steps.join('; ')}`;
    const fixed = await qrv(env.home, ['doctor', '--fix']);
    t.equal(fixed.exitCode, 0, `${story}: doctor --fix: ${fixed.stdout}${fixed.stderr}`);
    const again = await qrv(env.home, ['doctor']);
    t.equal(again.exitCode, 0, `${story}: then nothing open: ${again.stdout}`);
    for (const row of (await readCatalog(env.home)).qrvs.filter((q: { state: string }) => q.state === 'ready')) {
      const verified = await qrv(env.home, ['verify', row.id]);
      t.equal(verified.exitCode, 0, `${story}: ready QRV ${row.id} verifies: ${verified.stdout}${verified.stderr}`);
    }
  }
  t.comment(`property test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
