// The job recorder in-process against a real catalog: a job that fails before it changes anything
// leaves the catalog byte for byte as it was; once written, each step is in the step journal
// (not a catalog write each); held steps wait for release(); finish writes the row and drops the
// journal; an interrupt marks the job, its copying QRV and its creating snapshot failed; the
// liveness of a running row.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Job } from '../../src/catalog/schema.ts';
import { readSteps } from '../../src/catalog/step-journal.ts';
import { Reporter, type QrvEvent } from '../../src/core/events.ts';
import { QrvError } from '../../src/core/errors.ts';
import type { Context } from '../../src/engine/context.ts';
import { activeJobs, jobAlive, processGone, startJob, withJob } from '../../src/engine/job-recorder.ts';
import { qrvRow, snapshotRow, volumeRow } from '../helpers/check-rows.ts';
import { tmpDir } from '../helpers/tmp.ts';

const AT = '2026-12-04T12:00:00.000Z';

async function setup(t: Test) {
  const catalog = await Catalog.open(path.join(await tmpDir(t), 'home'));
  await catalog.update(() => undefined); // the catalog file exists
  const reporter = new Reporter();
  const events: QrvEvent[] = [];
  reporter.subscribe((event) => void events.push(event));
  const ctx: Context = { catalog, reporter, now: () => new Date(AT) };
  const text = () => readFile(path.join(catalog.home, 'catalog.json'), 'utf8');
  return { catalog, ctx, events, text };
}

t.test('a job that fails before it is written leaves the catalog byte for byte as it was', async (t) => {
  const { ctx, text, events } = await setup(t);
  const before = await text();
  await t.rejects(
    withJob(ctx, 'snap', 'v', async (job) => {
      await job.step('snapshot', 'check volume', async () => {
        throw new QrvError('busy', 'volume-busy', 'busy');
      });
    }),
    { code: 'volume-busy' },
  );
  t.equal(await text(), before);
  t.match(events, [
    { type: 'step', step: 'check volume', state: 'started' },
    { type: 'step', step: 'check volume', state: 'failed', detail: 'busy' },
  ]);
  t.same(activeJobs(), [], 'no job is left active');
});

t.test('once written: steps go to the step journal, finish writes the row and drops the journal', async (t) => {
  const { catalog, ctx } = await setup(t);
  const job = await startJob(ctx, 'copy', 'v');
  t.same(
    activeJobs().map((j) => j.id),
    [job.id],
  );
  await job.begin();
  t.match((await catalog.read()).jobs, [{ id: job.id, state: 'running', pid: process.pid, host: os.hostname() }]);
  const catalogWrites = (await catalog.read()).jobs[0]?.steps.length;
  await job.step('copy', 'one', async () => 1);
  await job.step(
    'copy',
    'two',
    async () => 2,
    (n) => `got ${n}`,
  );
  job.skip('verify', 'three', 'not asked');
  t.match(await readSteps(catalog.home, job.id), [
    { name: 'one', state: 'done' },
    { name: 'two', state: 'done', detail: 'got 2' },
  ]);
  t.equal((await catalog.read()).jobs[0]?.steps.length, catalogWrites, 'steps are not catalog writes');
  await job.finish();
  const row = (await catalog.read()).jobs[0] as Job;
  t.match(row, { state: 'succeeded', endedAt: AT, error: null });
  t.same(
    row.steps.map((s) => `${s.name} ${s.state}`),
    ['one done', 'two done', 'three skipped'],
  );
  t.equal(await readSteps(catalog.home, job.id), null, 'the journal is gone with the job ended');
});

t.test('held: steps stay in memory until release, which writes them with the change', async (t) => {
  const { catalog, ctx } = await setup(t);
  const job = await startJob(ctx, 'snap', 'v');
  await job.begin();
  job.hold();
  await job.step('snapshot', 'take snapshot', async () => undefined);
  t.equal(await readSteps(catalog.home, job.id), null, 'nothing written while held');
  await job.release((data) => void data.volumes.push(volumeRow('x')));
  const data = await catalog.read();
  t.match(data.jobs[0]?.steps, [{ name: 'take snapshot', state: 'done' }], 'written with the change');
  t.equal(data.volumes.length, 1);
  await job.release(); // not held: nothing
  await job.finish(new Error('boom'));
  t.match((await catalog.read()).jobs[0], { state: 'failed', error: { code: 'bug', message: 'boom' } });
});

t.test('interrupted: the job, its copying QRV and its creating snapshot are marked failed', async (t) => {
  const { catalog, ctx } = await setup(t);
  const job = await startJob(ctx, 'run', 'v');
  const snapshot = snapshotRow('v', AT, { state: 'creating' });
  const qrv = qrvRow('v', AT, { state: 'copying' });
  job.set({ snapshotId: snapshot.id, qrvId: qrv.id });
  await job.begin((data) => {
    data.volumes.push(volumeRow('v'));
    data.snapshots.push(snapshot);
    data.qrvs.push(qrv);
  });
  const running = job.step('copy', 'copy', () => new Promise<void>(() => undefined));
  void running;
  await job.interrupt('SIGTERM');
  const data = await catalog.read();
  t.match(data.jobs[0], {
    state: 'failed',
    error: { code: 'interrupted', message: 'interrupted by SIGTERM' },
    steps: [{ name: 'copy', state: 'failed' }],
  });
  t.match(data.snapshots[0], { state: 'failed' });
  t.match(data.qrvs[0], { state: 'failed' });
});

t.test('a running row: alive while its process is, gone after', async (t) => {
  const row = { state: 'running', pid: process.pid, host: os.hostname() } as Job;
  t.ok(jobAlive(row));
  t.notOk(processGone(row));
  const dead = { ...row, pid: 2 ** 22 + 12345 };
  t.notOk(jobAlive(dead));
  t.ok(processGone(dead));
  t.ok(jobAlive({ ...dead, host: 'another-host' }), 'another host: assumed alive');
  t.notOk(processGone({ ...dead, state: 'failed' }), 'an ended job is not gone');
});
