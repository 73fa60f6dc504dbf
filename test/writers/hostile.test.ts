// The writers against a hostile user on the same host (qrv runs as root): nobody starts a process
// called postgres beside a crafted postmaster.pid and PG_VERSION, and qrv must neither run a
// program of theirs as root nor wait for ever on a FIFO they named like a PostgreSQL file.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { runningClusters } from '../../src/writers/postgresql/clusters.ts';
import { postgresqlWriter } from '../../src/writers/postgresql/writer.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';

const NOBODY = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--'];

/** A process called postgres, run as nobody in `dir` (setpriv execs it: its pid is the one returned). */
async function fakePostgres(t: Test, dir: string): Promise<number> {
  const program = path.join(dir, 'postgres');
  await fs.copyFile('/bin/sleep', program);
  await fs.chmod(program, 0o755);
  const child = execa('setpriv', [...NOBODY, program, '300'], { cwd: dir, reject: false, stdio: 'ignore' });
  t.teardown(async () => {
    child.kill('SIGKILL');
    await child;
  });
  return child.pid as number;
}

/** Writes `text` to `file` as nobody's. */
async function nobodys(file: string, text: string): Promise<void> {
  await fs.writeFile(file, text);
  await execa('chown', ['nobody:nogroup', file]);
}

t.test("a fake postmaster in root's sticky folder with PG_VERSION naming another folder runs nothing", async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const sticky = path.join(outer, 'tmp');
  await fs.mkdir(sticky);
  await fs.chmod(sticky, 0o1777); // like /tmp: root's, and anyone may add files
  const evil = path.join(sticky, 'evil', 'bin');
  await fs.mkdir(evil, { recursive: true });
  const marker = path.join(outer, 'ran-as');
  await nobodys(path.join(evil, 'psql'), `#!/bin/sh\nid -u > ${marker}\n`);
  await fs.chmod(path.join(evil, 'psql'), 0o755);
  const pid = await fakePostgres(t, sticky);
  await nobodys(path.join(sticky, 'PG_VERSION'), `../../../..${path.dirname(evil)}\n`);
  await nobodys(path.join(sticky, 'postmaster.pid'), `${pid}\n${sticky}\n1\n5432\n${sticky}\n\n`);
  const clusters = await runningClusters();
  t.notOk(
    clusters.some((c) => c.dataDir === sticky),
    'a process that is not its folder’s owner (root here) is no postmaster',
  );
  await postgresqlWriter.discover().catch(() => []);
  t.equal(await fs.readFile(marker, 'utf8').catch(() => 'nothing ran'), 'nothing ran', 'no psql of theirs ran');
});

t.test('a fake postmaster whose postmaster.pid is a FIFO does not keep qrv waiting', async (t) => {
  if (!lane(t, 'hostile postgresql', { root: true, tools: ['setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  const dir = path.join(outer, 'nobody');
  await fs.mkdir(dir, { mode: 0o755 });
  await execa('chown', ['nobody:nogroup', dir]);
  await fakePostgres(t, dir);
  for (const name of ['postmaster.pid', 'PG_VERSION']) {
    await execa('setpriv', [...NOBODY, 'mkfifo', path.join(dir, name)]);
    // a reader blocked in open() (without the fix) is let go when the test ends
    t.teardown(async () => {
      const writer = await fs.open(path.join(dir, name), constants.O_RDWR | constants.O_NONBLOCK);
      await writer.close();
    });
  }
  const found = await Promise.race([
    runningClusters().then((clusters) => clusters.filter((c) => c.dataDir === dir).length),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref()),
  ]);
  t.equal(found, 0, 'the folder is passed over at once');
});
