// End to end: the real bin/qrv as a subprocess on real ext4 images.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { e2fsckClean, ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { lane } from '../helpers/lanes.ts';
import { failsCleanly } from '../helpers/assert.ts';

async function setup(t: Test) {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'vol', 32, {
    'hello.txt': 'hello\n',
    'data/a.bin': Buffer.alloc(300_000, 7),
    'etc/conf': 'x = 1\n',
  });
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image, catalog: path.join(home, 'catalog.json') };
}

t.test(
  'run makes a QRV equal to the volume at the snapshot, which e2fsck finds clean; recover brings it back',
  async (t) => {
    const { dir, home, image } = await setup(t);
    const original = await sha256(image);
    const dest = path.join(dir, 'vol.qrv.img');
    const { run, summary, lines } = await qrvJson(home, [
      'run',
      'vol',
      '--to',
      dest,
      '--keep-snapshot',
      '--label',
      'first',
    ]);
    t.equal(run.exitCode, 0, run.stderr);
    t.ok(
      lines.every((l) => typeof l.message_type === 'string'),
      'every line has a message_type',
    );
    t.equal(summary.message_type, 'summary');
    t.match(summary.qrv, { id: /^q-/, checksum: /^xxh64-blocks:[0-9a-f]{16}$/, state: 'ready', destination: dest });
    t.match(summary.job, { id: /^j-/, state: 'succeeded' });
    t.match(summary.snapshot, { id: /^s-/, state: 'ready', label: 'first', volume: 'vol' });
    t.ok(
      lines.some((l) => l.message_type === 'step' && l.step === 'read back every block' && l.state === 'done'),
      'verify step reported',
    );
    t.equal(await sha256(dest), original, 'QRV is byte for byte the volume as it was');
    t.equal(await sha256(summary.snapshot.path), original, 'snapshot too');
    t.ok((await e2fsckClean(dest)).clean, 'e2fsck -fn: clean');

    // every step was recorded in the job row
    const shown = await qrvJson(home, ['show', summary.job.id]);
    const steps = shown.summary.job.steps.map((s: { name: string; state: string }) => `${s.name}:${s.state}`);
    t.same(steps, [
      'check volume:done',
      'bring to rest:done',
      'take snapshot:done',
      'resume I/O:done',
      'index:done',
      'check destination:done',
      'copy blocks:done',
      'read back every block:done',
      'remove snapshot:skipped',
    ]);

    // change the volume, then recover it from the QRV
    await execa('debugfs', ['-w', '-R', 'rm /hello.txt', image]);
    t.not(await sha256(image), original, 'volume changed');
    const catalog = path.join(home, 'catalog.json');
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'vol', '--from', summary.qrv.id]),
      4,
      /would overwrite it.*--force/,
    );
    const rec = await qrvJson(home, ['recover', 'vol', '--from', summary.qrv.id, '--force']);
    t.equal(rec.run.exitCode, 0, rec.run.stderr);
    t.equal(rec.summary.checksum, summary.qrv.checksum);
    t.equal(await sha256(image), original, 'volume is back to the snapshot, byte for byte');

    // and from the snapshot to a new path
    const elsewhere = path.join(dir, 'elsewhere.img');
    const rec2 = await qrv(home, ['recover', 'vol', '--from', summary.snapshot.id, '--to', elsewhere]);
    t.equal(rec2.exitCode, 0, rec2.stderr);
    t.equal(await sha256(elsewhere), original);
  },
);

t.test('plain output has no escape codes; list, set, unsnap', async (t) => {
  const { dir, home } = await setup(t);
  const snap = await qrv(home, ['snap', 'vol', '--persist', '7d', '--label', 'daily']);
  t.equal(snap.exitCode, 0, snap.stderr);
  t.notMatch(snap.stdout + snap.stderr, /\x1b/, 'no escape codes when not a terminal');
  const id = /snapshot (s-[0-9a-f]{12})/.exec(snap.stdout)?.[1];
  t.ok(id, `snapshot id printed: ${snap.stdout}`);
  const list = await qrv(home, ['list']);
  t.match(list.stdout, new RegExp(`${id}\\s+vol`));
  t.match(list.stdout, /daily/);
  const pin = await qrvJson(home, ['set', id!, '--pin', '--persist', '30d']);
  t.equal(pin.summary.snapshot.pinned, true);
  const fromNow = Date.parse(pin.summary.snapshot.persistUntil) - Date.now();
  t.ok(Math.abs(fromNow - 30 * 86400_000) < 60_000, 'a duration counts from now');
  const until = await qrvJson(home, ['set', id!, '--persist', '2031-01-02T03:04:05Z']);
  t.equal(until.summary.snapshot.persistUntil, '2031-01-02T03:04:05.000Z', 'an ISO time is taken as it is');
  await failsCleanly(t, path.join(home, 'catalog.json'), () => qrv(home, ['unsnap', id!]), 4, /pinned.*--unpin/);
  t.equal((await qrv(home, ['set', id!, '--unpin'])).exitCode, 0);
  const gone = await qrvJson(home, ['unsnap', id!]);
  t.equal(gone.summary.snapshot.state, 'removed');
  t.same(await fs.readdir(path.join(dir, '.qrv-snapshots')), [], 'the snapshot file is gone');
  const all = await qrvJson(home, ['list', '--all']);
  t.equal(all.summary.snapshots[0].state, 'removed', 'the row stays, marked removed');
  t.same((await qrvJson(home, ['list'])).summary.snapshots, [], 'and is hidden by default');
});

t.test('a copy into the same destination updates the same QRV', async (t) => {
  const { dir, home, image } = await setup(t);
  const dest = path.join(dir, 'qrvs');
  await fs.mkdir(dest);
  const first = await qrvJson(home, ['run', 'vol', '--to', dest]);
  t.equal(first.run.exitCode, 0, first.run.stderr);
  t.equal(first.summary.snapshot.state, 'removed', 'snapshot removed after the copy');
  await execa('debugfs', ['-w', '-R', 'rm /etc/conf', image]);
  const changed = await sha256(image);
  const second = await qrvJson(home, ['run', 'vol', '--to', dest]);
  t.equal(second.run.exitCode, 0, second.run.stderr);
  t.equal(second.summary.qrv.id, first.summary.qrv.id, 'same QRV');
  t.equal(second.summary.qrv.history.length, 2, 'history keeps both copies');
  t.equal(await sha256(second.summary.qrv.destination), changed);
});

t.test('bad input: one clear line, a documented exit code, the catalog untouched', async (t) => {
  const { dir, home, image, catalog } = await setup(t);
  await failsCleanly(t, catalog, () => qrv(home, ['show', 's-deadbeef']), 3, /no snapshot with id "s-deadbeef"/);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['copy', 's-deadbeef', '--to', path.join(dir, 'x.img')]),
    3,
    /no snapshot/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'nosuch']),
    3,
    /no volume named "nosuch".*known volumes: vol/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['snap', 'vol', '--persist', 'soon']), 2, /"soon" is not a duration/);
  await failsCleanly(t, catalog, () => qrv(home, ['snap', 'vol', '--bogus']), 2, /unknown option/);
  await failsCleanly(t, catalog, () => qrv(home, ['run', 'vol', '--to', image]), 4, /is the volume itself/);
  const other = path.join(dir, 'precious.img');
  await fs.writeFile(other, 'not a qrv');
  await failsCleanly(t, catalog, () => qrv(home, ['run', 'vol', '--to', other]), 4, /exists and is not a QRV.*--force/);
  t.equal(await fs.readFile(other, 'utf8'), 'not a qrv', 'the file was not touched');
});

t.test('a killed or hung pre-snapshot hook aborts the job and leaves nothing behind', async (t) => {
  const { dir, home, catalog } = await setup(t);
  const dest = path.join(dir, 'q.img');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['run', 'vol', '--to', dest, '--hook', 'pre-snapshot=kill -KILL $$']),
    7,
    /pre-snapshot hook was killed by SIGKILL/,
  );
  const started = Date.now();
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'vol', '--hook', 'pre-snapshot=sleep 30', '--hook-timeout', '1s']),
    7,
    /pre-snapshot hook timed out after 1 s/,
  );
  t.ok(Date.now() - started < 15_000, 'the timeout ended it');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'vol', '--hook', 'pre-snapshot=exit 3']),
    7,
    /exited with status 3/,
  );
  const store = await fs.readdir(path.join(dir, '.qrv-snapshots')).catch(() => []);
  t.same(store, [], 'no snapshot file');
  await t.rejects(fs.stat(dest), 'no destination file');
});

t.test('a failed pre-copy hook removes the snapshot the run made; a failed post-hook is a warning', async (t) => {
  const { dir, home } = await setup(t);
  const failed = await qrvJson(home, ['run', 'vol', '--to', path.join(dir, 'q.img'), '--hook', 'pre-copy=exit 9']);
  t.equal(failed.run.exitCode, 7);
  t.match(failed.run.stderr, /pre-copy hook exited with status 9/);
  const listed = await qrvJson(home, ['list', '--all']);
  t.equal(listed.summary.snapshots.length, 1);
  t.equal(listed.summary.snapshots[0].state, 'removed', 'the run removed its snapshot');
  t.same(await fs.readdir(path.join(dir, '.qrv-snapshots')), []);
  const envFile = path.join(dir, 'env.txt');
  const ok = await qrvJson(home, [
    'run',
    'vol',
    '--to',
    path.join(dir, 'q.img'),
    '--hook',
    `post-copy=env | grep ^QRV_ | sort > ${envFile}; exit 1`,
  ]);
  t.equal(ok.run.exitCode, 0, 'a failed post-hook does not fail the job');
  t.match(ok.summary.job.warnings.join('\n'), /post-copy hook: post-copy hook exited with status 1/);
  const env = await fs.readFile(envFile, 'utf8');
  t.match(env, new RegExp(`QRV_JOB_ID=${ok.summary.job.id}`));
  t.match(env, /QRV_PHASE=post-copy/);
  t.match(env, /QRV_VOLUME=vol/);
  t.match(env, new RegExp(`QRV_SNAPSHOT_ID=${ok.summary.snapshot.id}`));
  t.match(env, /QRV_SNAPSHOT_PATH=.*\.qrv-snapshots/);
  t.match(env, new RegExp(`QRV_DESTINATION=${path.join(dir, 'q.img')}`));
  t.match(env, /QRV_DEVICE=.*vol\.img/);
});

t.test('a missing volume file and a corrupt or newer catalog are refused', async (t) => {
  const { home, image, catalog } = await setup(t);
  await fs.rename(image, `${image}.away`);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'vol']),
    8,
    /volume "vol": cannot use .*ENOENT.*qrv volume remove vol/,
  );
  await fs.rename(`${image}.away`, image);
  const text = await fs.readFile(catalog, 'utf8');
  await fs.writeFile(catalog, text.slice(0, text.length / 2));
  await failsCleanly(t, catalog, () => qrv(home, ['list']), 5, /catalog .* is corrupt: it is not valid JSON/);
  await failsCleanly(t, catalog, () => qrv(home, ['snap', 'vol']), 5, /is corrupt/);
  await fs.writeFile(catalog, JSON.stringify({ ...JSON.parse(text), schemaVersion: 99 }));
  await failsCleanly(t, catalog, () => qrv(home, ['list']), 5, /written by a newer qrv \(schema 99/);
  const json = await qrvJson(home, ['list']);
  t.equal(json.run.exitCode, 5);
  t.match(JSON.parse(json.run.stderr), { message_type: 'error', code: 'catalog-newer', exitCode: 5 });
});

t.test('loop lane: a destination device too small is refused before any byte is written (root)', async (t) => {
  if (!lane(t, 'loop device', { root: true, tools: ['losetup'] })) return;
  const { dir, home, catalog } = await setup(t);
  const small = path.join(dir, 'small.img');
  await fs.writeFile(small, Buffer.alloc(4 * 1024 * 1024, 0xab));
  const device = (await execa('losetup', ['-f', '--show', small])).stdout.trim();
  t.teardown(() => execa('losetup', ['-d', device], { reject: false }));
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['run', 'vol', '--to', device, '--force']),
    4,
    /has room for 4.00 MiB but the QRV needs 32.0 MiB/,
  );
  const bytes = await fs.readFile(device);
  t.ok(
    bytes.every((b) => b === 0xab),
    'the device is untouched',
  );
  t.same(await fs.readdir(path.join(dir, '.qrv-snapshots')).catch(() => []), [], 'and no snapshot was taken');
});

t.test('hooks come in pairs: the post-hook runs when the phase failed, with QRV_STATUS', async (t) => {
  const { dir, home, catalog } = await setup(t);
  const log = path.join(dir, 'hooks.log');
  await fs.mkdir(path.join(dir, 'sub'));
  // A copy that fails after the pre-copy hook ran: the destination folder vanishes under it.
  const result = await qrvJson(home, [
    'run',
    'vol',
    '--to',
    path.join(dir, 'sub', 'q.img'),
    '--keep-snapshot',
    '--hook',
    `pre-snapshot=echo pre-snapshot >> ${log}`,
    '--hook',
    `post-snapshot=echo post-snapshot $QRV_STATUS >> ${log}`,
    '--hook',
    `pre-copy=echo pre-copy >> ${log}; rm -rf ${path.join(dir, 'sub')}`,
    '--hook',
    `post-copy=echo post-copy $QRV_STATUS >> ${log}`,
  ]);
  t.not(result.run.exitCode, 0, 'the run failed');
  t.equal(await fs.readFile(log, 'utf8'), 'pre-snapshot\npost-snapshot ok\npre-copy\npost-copy failed\n');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'vol', '--hook', 'pre-copy=true']),
    2,
    /never runs the pre-copy phase/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['snap', 'vol', '--hook', 'pre-snapshot=a', '--hook', 'pre-snapshot=b']),
    2,
    /given twice/,
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['run', 'vol', '--to', path.join(dir, 'x.img'), '--persist', '1d']),
    2,
    /--persist has no effect.*--keep-snapshot/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['lst']), 2, /unknown command 'lst'.*Did you mean (one of )?list/);
  const json = await qrv(home, ['--json', 'snap']);
  t.equal(json.exitCode, 2);
  t.match(JSON.parse(json.stderr), { message_type: 'error', code: 'usage', exitCode: 2 });
});

t.test('an interrupted copy is marked failed, and its destination can be used again', async (t) => {
  const { dir, home } = await setup(t);
  const dest = path.join(dir, 'q.img');
  const mark = path.join(dir, 'hook-started');
  const child = execa(
    'node',
    [BIN, '--home', home, 'run', 'vol', '--to', dest, '--hook', `pre-copy=touch ${mark}; sleep 30`],
    { reject: false, forceKillAfterDelay: false },
  );
  // Interrupt only once the hook runs (under CI load that took over 10 s once).
  for (let i = 0; i < 1200 && !(await fs.stat(mark).catch(() => null)); i++)
    await new Promise((r) => setTimeout(r, 100));
  t.ok(await fs.stat(mark).catch(() => null), 'the pre-copy hook started');
  child.kill('SIGTERM');
  const ended = await child;
  t.equal(ended.exitCode, 130);
  t.match(String(ended.stderr), /interrupted by SIGTERM; job j-[0-9a-f]{12} is marked failed/);
  const jobs = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')).jobs;
  t.match(jobs.at(-1), { state: 'failed', error: { code: 'interrupted' } });
  const again = await qrv(home, ['run', 'vol', '--to', dest]);
  t.equal(again.exitCode, 0, again.stderr);
  const sleeping = await execa('pgrep', ['-f', '^sleep 30$'], { reject: false });
  t.equal(sleeping.stdout.trim(), '', 'the hook was ended with qrv');
});
