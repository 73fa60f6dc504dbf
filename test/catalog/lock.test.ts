// The lock between real qrv processes: a holder that is alive but stopped (SIGSTOP) is never
// taken over, however long it stops, so the update it is making is not lost and the one that
// waited is not lost either; a holder that dies frees the lock at once; cron's run lock follows
// the same rules.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { Catalog } from '../../src/catalog/store.ts';
import { BIN, qrv, ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

// Real qrv processes: seconds each on a quiet machine, much more when the machine is shared.
t.setTimeout(600_000);
const HOLDER = path.join(ROOT, 'test', 'helpers', 'run-lock-holder.ts');

/** A home with volume v and two ready snapshots of it; returns their ids. */
async function homeWithTwoSnapshots(t: Test): Promise<{ home: string; ids: [string, string] }> {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = path.join(dir, 'v.img');
  await fs.writeFile(image, '');
  await fs.truncate(image, 1 << 20);
  for (const args of [
    ['volume', 'add', 'v', '--path', image],
    ['snap', 'v'],
  ]) {
    const run = await qrv(home, args);
    t.equal(run.exitCode, 0, `qrv ${args.join(' ')}: ${run.stderr}`);
  }
  // A second row made from the first with qrv's own store (saves a whole qrv snap).
  const catalog = await Catalog.open(home);
  const ids = await catalog.update((data) => {
    const first = data.snapshots[0];
    if (!first) throw new Error('no snapshot');
    data.snapshots.push({ ...first, id: 's-0000beef' });
    return [first.id, 's-0000beef'] as [string, string];
  });
  return { home, ids };
}

function qrvSet(home: string, id: string, label: string, env: Record<string, string> = {}): ResultPromise {
  return execa(process.execPath, [BIN, '--home', home, 'set', id, '--label', label], {
    reject: false,
    env: { CI: '', ...env },
    stdin: 'ignore',
    timeout: 180_000,
  });
}

/** Waits until process `pid` is stopped (state T in /proc/PID/stat). */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 1200; i += 1) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await sleep(50);
  }
  throw new Error(`process ${pid} never stopped`);
}

async function labels(home: string): Promise<Record<string, string | null>> {
  const data = await (await Catalog.open(home)).read();
  return Object.fromEntries(data.snapshots.map((s) => [s.id, s.label]));
}

t.test('a holder stopped for 11 s keeps the lock; both updates land (SIGSTOP/SIGCONT)', async (t) => {
  const { home, ids } = await homeWithTwoSnapshots(t);
  const [first, second] = ids;

  // cron's run lock, held by a process that then stops: never stale either.
  const runHolder = execa('node', ['--import', 'tsx', HOLDER, home, 'cron'], { cwd: ROOT, reject: false });
  t.teardown(() => void runHolder.kill('SIGKILL'));
  await new Promise<void>((resolve) =>
    runHolder.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve()),
  );

  // The first `qrv set` stops itself holding the catalog lock, its change made, not yet written.
  const a = qrvSet(home, first, 'a', { QRV_FAILPOINTS: 'catalog-write=stop' });
  t.teardown(() => void a.kill('SIGKILL'));
  await stopped(a.pid as number);

  const early = await qrvSet(home, second, 'early', { QRV_LOCK_WAIT_MS: '1000' });
  t.equal(early.exitCode, 6, 'a short wait gives up with busy');
  t.match(
    String(early.stderr),
    new RegExp(`another qrv \\(pid ${a.pid}, since .*\\) is changing the catalog in ${home}`),
    'naming the holder',
  );

  // The second waits (up to 60 s) while the first stays stopped for 11 s: the old lock called a
  // lock not refreshed for 10 s stale and took it over, and the first then overwrote the second.
  const b = qrvSet(home, second, 'b', { QRV_LOCK_WAIT_MS: '60000' });
  await sleep(11_000);
  process.kill(a.pid as number, 'SIGCONT');
  const [ra, rb] = await Promise.all([a, b]);
  t.equal(ra.exitCode, 0, `the stopped set finished: ${String(ra.stderr)}`);
  t.equal(rb.exitCode, 0, `the waiting set finished: ${String(rb.stderr)}`);
  t.same(await labels(home), { [first]: 'a', [second]: 'b' }, 'both changes are in the catalog');

  const cron = await qrv(home, ['cron']);
  t.match(
    cron.stdout,
    /another qrv cron is running in this home; skipped/,
    'the stopped run-lock holder still holds cron.lock after 11 s',
  );
  runHolder.kill('SIGKILL');
  await runHolder;
  const after = await qrv(home, ['cron']);
  t.equal(after.exitCode, 0, after.stderr);
  t.notMatch(after.stdout, /skipped/, 'its death freed cron.lock at once');
});

t.test('a holder killed while it holds the lock frees it at once, and its change is not written', async (t) => {
  const { home, ids } = await homeWithTwoSnapshots(t);
  const [first] = ids;
  const a = qrvSet(home, first, 'lost', { QRV_FAILPOINTS: 'catalog-write=stop' });
  await stopped(a.pid as number);
  process.kill(a.pid as number, 'SIGKILL');
  await a;
  const started = Date.now();
  const run = await qrvSet(home, first, 'kept', { QRV_LOCK_WAIT_MS: '0' });
  t.equal(run.exitCode, 0, `taken without waiting: ${String(run.stderr)}`);
  t.ok(Date.now() - started < 30_000, 'no staleness to wait for');
  t.equal((await labels(home))[first], 'kept');
});

t.test('a lock folder of an older qrv is waited for while fresh', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  await fs.mkdir(path.join(home, 'catalog.lock'));
  const old = process.env.QRV_LOCK_WAIT_MS;
  process.env.QRV_LOCK_WAIT_MS = '600';
  t.teardown(() => (old === undefined ? delete process.env.QRV_LOCK_WAIT_MS : (process.env.QRV_LOCK_WAIT_MS = old)));
  const error = await catalog
    .update(() => undefined)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.match(error, {
    exit: 'busy',
    code: 'catalog-locked',
    message: /another qrv \(a lock folder of an older qrv\) is changing the catalog/,
  });
  t.ok((await fs.lstat(path.join(home, 'catalog.lock'))).isDirectory(), 'a fresh one is left alone');
});
