// A reader that goes away (`qrv list | head -1`, `qrv run … | head -1`) is not an error: the
// work finishes, qrv exits with the work's own status, and says nothing about EPIPE.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { qrvReaderGone } from '../helpers/closed-pipe.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function setup(t: Test) {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'vol', 32, { 'hello.txt': 'hello\n', 'data/a.bin': Buffer.alloc(300_000, 7) });
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image };
}

t.test('qrv list with stdout closed before it writes: exit 0, nothing on stderr', async (t) => {
  const { home } = await setup(t);
  for (let i = 0; i < 3; i += 1) t.equal((await qrv(home, ['snap', 'vol'])).exitCode, 0);
  for (const args of [['list'], ['--json', 'list'], ['volume', 'list'], ['--help']]) {
    const run = await qrvReaderGone(home, args, 'at-once');
    t.same(
      { exitCode: run.exitCode, signal: run.signal, stderr: run.stderr },
      { exitCode: 0, signal: null, stderr: '' },
      args.join(' '),
    );
  }
  // an error still has its own status (and its line on stderr, which is open)
  const missing = await qrvReaderGone(home, ['show', 's-00000000'], 'at-once');
  t.equal(missing.exitCode, 3);
  t.match(missing.stderr, /^qrv: no snapshot with id "s-00000000"/);
});

t.test(
  'qrv run with its reader gone after the first line finishes the job: QRV ready, snapshot removed, exit 0',
  async (t) => {
    const { dir, home, image } = await setup(t);
    const dest = path.join(dir, 'q.img');
    for (const json of [false, true]) {
      const run = await qrvReaderGone(
        home,
        [...(json ? ['--json'] : []), 'run', 'vol', '--to', dest, '--hook', 'post-copy=echo copied'],
        'after-first-line',
      );
      t.match(
        run.firstLine,
        json ? /^\{"message_type":"step"/ : /^snapshot: check volume/,
        'the reader saw the first line',
      );
      t.same(
        { exitCode: run.exitCode, signal: run.signal, stderr: run.stderr },
        { exitCode: 0, signal: null, stderr: '' },
        'exit 0, nothing on stderr',
      );
      const data = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
      const job = data.jobs.at(-1);
      t.equal(job.state, 'succeeded', 'the job finished');
      t.notOk(
        data.snapshots.some((s: { state: string }) => s.state === 'creating'),
        'no snapshot left creating',
      );
      t.ok(
        data.snapshots.every((s: { state: string }) => s.state === 'removed'),
        'the snapshot was removed after the copy',
      );
      t.equal(data.qrvs[0].state, 'ready');
    }
    t.equal(await sha256(dest), await sha256(image), 'the QRV holds the volume');
  },
);

t.test("stdout on a full disk: the work goes on, one line on stderr, the work's exit status", async (t) => {
  const { dir, home } = await setup(t);
  const run = await execa(
    'sh',
    ['-c', `"${process.execPath}" "${BIN}" --home "${home}" run vol --to "${path.join(dir, 'q.img')}" >/dev/full`],
    { reject: false, env: { CI: '' } },
  );
  t.equal(run.exitCode, 0, run.stderr);
  t.equal(run.stderr.trim(), 'qrv: cannot write to stdout (ENOSPC); the command went on without it');
  const list = await qrvJson(home, ['list']);
  t.equal(list.summary.qrvs[0].state, 'ready');
});
