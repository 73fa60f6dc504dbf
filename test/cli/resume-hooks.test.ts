// A copy killed mid-way (failpoint mid-copy=kill, after a checkpoint) and resumed: the resume runs
// the pre-copy and post-copy hooks the killed copy was given, with its hook timeout; a --hook or
// --hook-timeout given to the resume replaces that one; `qrv doctor --fix` resumes with them too.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { MiB, holds, randomImage } from '../helpers/block-images.ts';
import { tmpDir } from '../helpers/tmp.ts';

const SIZE = 48 * MiB + 4321;

async function setup(t: Test) {
  const dir = await tmpDir(t, 'qrv-rhook-');
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  const content = await randomImage(image, SIZE);
  t.equal((await qrv(home, ['volume', 'add', 'vol', '--path', image])).exitCode, 0);
  const snap = await qrvJson(home, ['snap', 'vol']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  return { dir, home, content, snapshotId: snap.summary.snapshot.id as string, log: path.join(dir, 'hooks.log') };
}

/** `qrv copy` with these hooks, SIGKILLed by itself halfway; returns its job row. */
async function killedCopy(t: Test, home: string, args: string[]): Promise<Record<string, any>> {
  const child = await execa('node', [BIN, '--home', home, 'copy', ...args], {
    reject: false,
    env: { CI: '', QRV_CHECKPOINT_MS: '1', QRV_FAILPOINTS: 'mid-copy=kill' },
  });
  t.equal(child.signal, 'SIGKILL', 'the copy was killed halfway');
  const catalog = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
  return catalog.jobs.find((j: { state: string; kind: string }) => j.kind === 'copy' && j.state === 'running');
}

const lines = async (file: string) => (await fs.readFile(file, 'utf8')).trim().split('\n');

t.test("a resumed copy runs the killed copy's hooks, and a hook given to the resume replaces its phase", async (t) => {
  const { dir, home, content, snapshotId, log } = await setup(t);
  const hook = (phase: string, tag = phase) => [
    '--hook',
    `${phase}=echo ${tag} $QRV_JOB_ID $QRV_DESTINATION >> ${log}`,
  ];
  const dest = path.join(dir, 'a.img');
  const job = await killedCopy(t, home, [
    snapshotId,
    '--to',
    dest,
    ...hook('pre-copy'),
    ...hook('post-copy'),
    '--hook-timeout',
    '45s',
  ]);
  t.match(
    job.progress,
    {
      blocksDone: Number,
      hooks: { 'pre-copy': /^echo pre-copy /, 'post-copy': /^echo post-copy / },
      hookTimeoutMs: 45_000,
    },
    'its saved progress holds its hooks and their timeout',
  );
  t.same(await lines(log), [`pre-copy ${job.id} ${dest}`], 'killed: only its pre-copy hook ran');
  const shown = await qrv(home, ['show', job.id]);
  t.match(shown.stdout, /^state: running$/m, 'the killed job still reads running');
  t.match(
    shown.stdout,
    new RegExp(
      `^\\(process ${job.pid} is gone: the job was killed; .*qrv doctor --fix\` ends it or resumes its copy\\)$`,
      'm',
    ),
    'show says its process is gone and what mends it',
  );
  t.equal((await qrvJson(home, ['show', job.id])).summary.processGone, true);

  const resumed = await qrvJson(home, ['copy', '--resume', job.id]);
  t.equal(resumed.run.exitCode, 0, resumed.run.stderr);
  const by = resumed.summary.job.id as string;
  t.same(
    await lines(log),
    [`pre-copy ${job.id} ${dest}`, `pre-copy ${by} ${dest}`, `post-copy ${by} ${dest}`],
    'the resume ran both hooks again, without being given them',
  );
  await holds(t, dest, content, 'the resumed QRV is the snapshot');
  const old = await qrvJson(home, ['show', job.id]);
  t.match(
    old.summary,
    { job: { state: 'failed' }, processGone: false },
    'resumed: the old job is failed, with nothing more to say',
  );

  // Given to the resume: its post-copy replaces the remembered one; the remembered pre-copy stays.
  await fs.rm(log);
  const dest2 = path.join(dir, 'b.img');
  const job2 = await killedCopy(t, home, [snapshotId, '--to', dest2, ...hook('pre-copy'), ...hook('post-copy')]);
  t.equal(job2.progress.hookTimeoutMs, 300_000, 'no --hook-timeout: the default is remembered');
  const resumed2 = await qrvJson(home, ['copy', '--resume', job2.id, ...hook('post-copy', 'replaced')]);
  t.equal(resumed2.run.exitCode, 0, resumed2.run.stderr);
  const by2 = resumed2.summary.job.id as string;
  t.same(await lines(log), [`pre-copy ${job2.id} ${dest2}`, `pre-copy ${by2} ${dest2}`, `replaced ${by2} ${dest2}`]);

  // doctor --fix resumes with the remembered hooks as well.
  await fs.rm(log);
  const dest3 = path.join(dir, 'c.img');
  const job3 = await killedCopy(t, home, [snapshotId, '--to', dest3, ...hook('post-copy')]);
  const fixed = await qrvJson(home, ['doctor', '--fix']);
  t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
  t.match(fixed.summary.findings, [{ kind: 'resumable-copy', subject: job3.id, fixed: true }]);
  const [line, ...rest] = await lines(log);
  t.match(line, new RegExp(`^post-copy j-[0-9a-f]{12} ${dest3}$`), 'its post-copy hook ran once, for the resuming job');
  t.same(rest, []);
  await holds(t, dest3, content, 'and the QRV is the snapshot');
});

t.test('a remembered hook that fails fails the resume as it would have failed the copy', async (t) => {
  const { dir, home, snapshotId } = await setup(t);
  const dest = path.join(dir, 'a.img');
  // passes for the first copy, fails once the flag file exists (say, the destination went away)
  const flag = path.join(dir, 'gone');
  const job = await killedCopy(t, home, [snapshotId, '--to', dest, '--hook', `pre-copy=test ! -e ${flag}`]);
  await fs.writeFile(flag, '');
  const resumed = await qrv(home, ['copy', '--resume', job.id]);
  t.not(resumed.exitCode, 0, 'the resume fails');
  t.match(resumed.stderr, /pre-copy hook/, 'and says it was the pre-copy hook');
});
