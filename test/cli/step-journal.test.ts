// A job's steps between two catalog writes are in its step journal: a job killed there is still
// understood — `qrv show` lists the step it was in, and `qrv doctor --fix` ends the job with
// every step recorded and removes the journal.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import t from 'tap';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';

t.test('a snap killed in its post-snapshot hook: show and doctor --fix take its steps from the journal', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await sparseFile(path.join(dir, 'v.img'), 1 << 20);
  t.equal((await qrv(home, ['volume', 'add', 'v', '--provider', 'file', '--path', image])).exitCode, 0);
  const marker = path.join(dir, 'in-hook');
  const child = execa(
    process.execPath,
    [BIN, '--home', home, 'snap', 'v', '--hook', `post-snapshot=touch ${marker}; sleep 60`],
    { reject: false, env: { CI: '' }, stdin: 'ignore' },
  );
  for (
    let i = 0;
    i < 1200 &&
    !(await fs.stat(marker).then(
      () => true,
      () => false,
    ));
    i += 1
  )
    await sleep(50);
  child.kill('SIGKILL');
  await child;
  const catalog = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
  const row = catalog.jobs.find((j: { kind: string }) => j.kind === 'snap');
  t.equal(row.state, 'running', 'the killed job still reads running');
  const names = (steps: { name: string; state: string }[]) => steps.map((s) => `${s.name}:${s.state}`);
  t.notOk(names(row.steps).includes('post-snapshot hook:started'), 'its catalog row was written before the hook');
  await t.resolves(fs.stat(path.join(home, 'jobs', `${row.id}.steps`)), 'it has a step journal');

  const shown = await qrvJson(home, ['show', row.id]);
  t.equal(shown.summary.processGone, true);
  t.same(
    names(shown.summary.job.steps).slice(-2),
    ['index:done', 'post-snapshot hook:started'],
    'show lists the step it was killed in',
  );

  const fixed = await qrv(home, ['doctor', '--fix']);
  t.equal(fixed.exitCode, 0, fixed.stdout + fixed.stderr);
  const after = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')).jobs.find(
    (j: { id: string }) => j.id === row.id,
  );
  t.equal(after.state, 'failed');
  t.same(
    names(after.steps).slice(-2),
    ['index:done', 'post-snapshot hook:failed'],
    'the row has every step, the one it was in failed',
  );
  await t.rejects(fs.stat(path.join(home, 'jobs', `${row.id}.steps`)), { code: 'ENOENT' }, 'the journal is gone');
});
