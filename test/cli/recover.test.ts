// Volume-level and file-level recovery through bin/qrv (F12): steps, progress and summaries in
// the plain and JSON modes, job rows for both; as root, a mounted volume (through its loop
// device, or a --to device) is refused and a group is checked as a whole before
// anything is written.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { failsCleanly } from '../helpers/assert.ts';
import { lane } from '../helpers/lanes.ts';
import { partLine } from '../../src/services/recover-group.ts';
import { allJobs } from '../helpers/all-jobs.ts';
import { openFolderAndVictim } from '../helpers/planted.ts';

t.test('volume recovery: steps, progress and summary in JSON and plain lines; a job row', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 16, { 'a.txt': 'a\n' });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const snap = await qrvJson(home, ['snap', 'web']);
  const s = snap.summary.snapshot as { id: string; path: string };
  const to = path.join(dir, 'back.img');

  const json = await qrvJson(home, ['recover', 'web', '--from', s.id, '--to', to]);
  t.equal(json.run.exitCode, 0, json.run.stderr);
  const steps = json.lines.filter((l) => l.message_type === 'step').map((l) => `${l.phase}:${l.step}:${l.state}`);
  t.same(steps, [
    'recover:check target:started',
    'recover:check target:done',
    'recover:write back:started',
    'recover:write back:done',
    'verify:compare checksums:started',
    'verify:compare checksums:done',
  ]);
  t.match(
    json.lines.find((l) => l.step === 'check target' && l.state === 'done'),
    { detail: `${to}: the --to target, an image file, not in use` },
  );
  for (const phase of ['recover', 'verify']) {
    const progress = json.lines.filter((l) => l.message_type === 'progress' && l.phase === phase);
    t.ok(progress.length >= 2, `${phase}: progress events`);
    t.match(progress.at(-1), { bytesDone: 16 * 1024 * 1024, bytesTotal: 16 * 1024 * 1024, rate: Number });
  }
  t.match(json.summary, {
    message_type: 'summary',
    source: s.id,
    target: to,
    checksum: /^xxh64-blocks:/,
    job: { kind: 'recover', state: 'succeeded', snapshotId: s.id, destination: to },
  });
  t.same(
    json.summary.job.steps.map((x: { name: string }) => x.name),
    ['check target', 'write back', 'compare checksums'],
  );
  t.equal(await sha256(to), await sha256(s.path));

  const plain = await qrv(home, ['recover', 'web', '--from', s.id, '--to', to, '--force']);
  t.equal(plain.exitCode, 0, plain.stderr);
  t.match(plain.stdout.trim().split('\n'), [
    new RegExp(`^recover: check target: ${to}: the --to target, an image file, not in use \\([\\d.]+ ms\\)$`),
    /^recover: 0% 0 B of 16\.0 MiB, \d+ MB\/s/,
    /^recover: 100% 16\.0 MiB of 16\.0 MiB, \d+ MB\/s/,
    new RegExp(`^recover: write back: \\d+ bytes from ${s.id} to ${to} \\(`),
    /^verify: 0% /,
    /^verify: 100% /,
    new RegExp(`^verify: compare checksums: ${to} matches ${s.id} \\(xxh64-blocks:\\w+\\) \\(`),
    new RegExp(`^recovered web from ${s.id} to ${to} \\(xxh64-blocks:\\w+\\) in [\\d.]+ s$`),
  ]);
  t.equal(
    (await allJobs(home)).filter((j) => j.kind === 'recover').length,
    2,
    'a job row per recovery (in the catalog or moved to history)',
  );

  // --as-of instead of --from: the copy qrv resolve chooses, and the summary says which
  const asOf = await qrvJson(home, ['recover', 'web', '--as-of', 'now', '--to', path.join(dir, 'asof.img')]);
  t.equal(asOf.run.exitCode, 0, asOf.run.stderr);
  t.match(asOf.summary, { source: s.id, asOf: String, job: { snapshotId: s.id } });
  t.equal(await sha256(path.join(dir, 'asof.img')), await sha256(s.path));
  const plainAsOf = await qrv(home, ['recover', 'web', '--as-of', 'now', '--to', path.join(dir, 'asof2.img')]);
  t.match(plainAsOf.stdout, new RegExp(`^web as of [\\d-]+ [\\d:]+Z: ${s.id}, a snapshot taken `, 'm'));
  const before = await qrv(home, ['recover', 'web', '--as-of', '2020-01-01', '--to', path.join(dir, 'asof3.img')]);
  t.equal(before.exitCode, 3, 'nothing at that time: exit 3');
  t.match(before.stderr, /^qrv: no snapshot or QRV holds web as of 2020-01-01 00:00:00Z/);
  const both = await qrv(home, [
    'recover',
    'web',
    '--as-of',
    'now',
    '--from',
    s.id,
    '--to',
    path.join(dir, 'asof4.img'),
  ]);
  t.equal(both.exitCode, 2, '--from and --as-of together: usage');
  await fs.access(path.join(dir, 'asof3.img')).then(
    () => t.fail('nothing written'),
    () => t.pass('nothing written when nothing was chosen'),
  );
});

t.test('file-level recovery records a job row; a refusal changes nothing', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 16, { 'etc/app.conf': 'x = 1\n' });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const s = (await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string };
  const catalog = path.join(home, 'catalog.json');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', 'web', '--from', s.id, '--path', '/etc']),
    4,
    /is not mounted, and files go back into its mounted filesystem/,
  );
  const to = path.join(dir, 'out');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', 'web', '--from', s.id, '--path', '/etc', '--to', image]),
    4,
    /is not a folder/,
  );
  await t.rejects(fs.stat(to), 'the --to folder is not made by a refused recovery');

  const json = await qrvJson(home, [
    'recover',
    'web',
    '--from',
    s.id,
    '--path',
    '/etc',
    '--to',
    to,
    '--via',
    'debugfs',
  ]);
  t.equal(json.run.exitCode, 0, json.run.stderr);
  t.match(json.summary.job, {
    kind: 'recover',
    volume: 'web',
    state: 'succeeded',
    snapshotId: s.id,
    destination: to,
    steps: [{ name: `restore files from ${s.id}`, state: 'done', detail: '2 restored, read by debugfs' }],
  });
  t.same(
    json.lines.filter((l) => l.message_type === 'step').map((l) => `${l.phase}:${l.step}:${l.state}`),
    [`recover:restore files from ${s.id}:started`, `recover:restore files from ${s.id}:done`],
  );
  t.match(json.lines.filter((l) => l.message_type === 'progress').at(-1), {
    phase: 'recover',
    bytesDone: 6,
    bytesTotal: 6,
  });
  const stored = JSON.parse(await fs.readFile(catalog, 'utf8'));
  t.same(stored.jobs.at(-1), json.summary.job, 'the job row as stored');
  t.equal(await fs.readFile(path.join(to, 'etc/app.conf'), 'utf8'), 'x = 1\n');
});

t.test('partLine: which members of a group are back, which was being written, which are untouched', async (t) => {
  t.equal(
    partLine('g-1', ['a', 'b', 'c', 'd'], 2, true),
    'group g-1 is recovered only in part: a, b are back; c failed while being written (its content is mixed now: recover it again); d was not touched',
  );
  t.equal(partLine('g-1', ['a', 'b'], 1, false), 'group g-1 is recovered only in part: a is back; b was not touched');
  t.equal(
    partLine('g-1', ['a', 'b'], 0, true),
    'group g-1 is recovered only in part: no volume is back; a failed while being written (its content is mixed now: recover it again); b was not touched',
  );
});

t.test('root: a group is checked as a whole; a mounted --to device is refused', async (t) => {
  if (!lane(t, 'loop mount', { root: true, tools: ['losetup', 'mount'] })) return;
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  const a = await ext4Image(dir, 'a', 16, { 'a.txt': 'a\n' });
  const b = await ext4Image(dir, 'b', 16, { 'b.txt': 'b\n' });
  for (const [name, image] of [
    ['a', a],
    ['b', b],
  ] as const)
    t.equal((await qrv(home, ['volume', 'add', name, '--path', image])).exitCode, 0);
  const group = (await qrvJson(home, ['snap', 'a', 'b'])).summary;
  const groupId = group.groupId as string;
  await execa('debugfs', ['-w', '-R', 'rm /a.txt', a]);
  const changedA = await sha256(a);
  const mnt = path.join(dir, 'mnt');
  await fs.mkdir(mnt);
  const loop = (await execa('losetup', ['-f', '--show', b])).stdout.trim();
  t.teardown(async () => {
    await execa('umount', [mnt]).catch(() => undefined);
    await execa('losetup', ['-d', loop]).catch(() => undefined);
  });
  await execa('mount', [loop, mnt]);
  const catalog = path.join(home, 'catalog.json');
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', '--group', groupId, '--force']),
    4,
    new RegExp(`^qrv: ${b} is mounted on ${mnt} \\(through ${loop}\\); recovery would write under it`),
  );
  t.equal(await sha256(a), changedA, 'no member was written: a is as it was');
  await execa('umount', [mnt]);
  await execa('losetup', ['-d', loop]);
  const back = await qrvJson(home, ['recover', '--group', groupId, '--force']);
  t.equal(back.run.exitCode, 0, back.run.stderr);
  t.equal(back.summary.recovered.length, 2);
  t.ok((await execa('debugfs', ['-R', 'cat /a.txt', a])).stdout.includes('a'), 'a is back');

  // A --to block device that is mounted.
  const disk = await ext4Image(dir, 'disk', 16, {});
  const dev = (await execa('losetup', ['-f', '--show', disk])).stdout.trim();
  t.teardown(() => execa('losetup', ['-d', dev]).catch(() => undefined));
  const mnt2 = path.join(dir, 'mnt2');
  await fs.mkdir(mnt2);
  await execa('mount', [dev, mnt2]);
  t.teardown(() => execa('umount', [mnt2]).catch(() => undefined));
  const s = (back.summary.recovered[0] as { source: string }).source;
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['recover', 'a', '--from', s, '--to', dev, '--force']),
    4,
    new RegExp(`^qrv: ${dev} is mounted on ${mnt2} \\(unmount it and stop what uses it first`),
  );
});

t.test(
  'recover never overwrites what qrv protects: another snapshot, another volume, a QRV, by path, symlink or hard link',
  async (t) => {
    const dir = await fs.realpath(await tmpDir(t));
    const home = path.join(dir, 'home');
    const catalog = path.join(home, 'catalog.json');
    const web = await ext4Image(dir, 'web', 16, { 'a.txt': 'one\n' });
    const db = await ext4Image(dir, 'db', 16, { 'd.txt': 'db\n' });
    t.equal((await qrv(home, ['volume', 'add', 'web', '--path', web])).exitCode, 0);
    t.equal((await qrv(home, ['volume', 'add', 'db', '--path', db])).exitCode, 0);
    const s1 = (await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string; path: string };
    await execa('debugfs', ['-w', '-R', 'rm /a.txt', web]);
    const s2 = (await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string; path: string };
    const copied = await qrvJson(home, ['copy', s1.id, '--to', path.join(dir, 'web.qrv.img')]);
    t.equal(copied.run.exitCode, 0, copied.run.stderr);
    const q = copied.summary.qrv as { id: string; destination: string };
    const sums = async () => Promise.all([s1.path, db, q.destination].map(sha256));
    const before = await sums();

    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', s1.path, '--force']),
      4,
      new RegExp(`^qrv: target .* is snapshot ${s1.id} of "web" \\(choose a target that is none of qrv's own`),
    );
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', db, '--force']),
      4,
      /^qrv: target .*db\.img is volume "db" \(/,
    );
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', q.destination, '--force']),
      4,
      new RegExp(`^qrv: target .* is QRV ${q.id} of volume "web"`),
    );
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', s2.path, '--force']),
      4,
      new RegExp(`is ${s2.id} itself; recovering it onto itself would destroy it`),
    );
    const symlink = path.join(dir, 'to-s1.img');
    await fs.symlink(s1.path, symlink);
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', symlink, '--force']),
      4,
      new RegExp(`is snapshot ${s1.id}`),
    );
    const hard = path.join(dir, 'db-link.img');
    await fs.link(db, hard);
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', hard, '--force']),
      4,
      /is volume "db"/,
    );
    await failsCleanly(
      t,
      catalog,
      () => qrv(home, ['recover', 'web', '--from', s2.id, '--to', catalog, '--force']),
      4,
      /is in the qrv home/,
    );
    const json = await qrvJson(home, ['recover', 'web', '--from', s2.id, '--to', hard, '--force']);
    t.match(JSON.parse(json.run.stderr), { code: 'target-is-volume', exitCode: 4 });
    t.same(await sums(), before, 'the snapshot, the other volume and the QRV are unchanged');

    // The volume itself is a target (with --force), also named through a symlink.
    const webLink = path.join(dir, 'web-link.img');
    await fs.symlink(web, webLink);
    const back = await qrvJson(home, ['recover', 'web', '--from', s1.id, '--to', webLink, '--force']);
    t.equal(back.run.exitCode, 0, back.run.stderr);
    t.match(
      back.lines.find((l) => l.step === 'check target' && l.state === 'done'),
      { detail: /the volume, an image file/ },
    );
    t.equal(await sha256(web), await sha256(s1.path));
  },
);

t.test(
  'root: a recovery target is opened once, as it was checked: a symlink nobody plants, or a file swapped in, is not written',
  async (t) => {
    if (!lane(t, 'planted recovery target', { root: true, tools: ['runuser', 'mkfs.ext4'] })) return;
    const dir = await fs.realpath(await tmpDir(t));
    await fs.chmod(dir, 0o755);
    const home = path.join(dir, 'home');
    const web = await ext4Image(dir, 'web', 16, { 'a.txt': 'one\n' });
    t.equal((await qrv(home, ['volume', 'add', 'web', '--path', web])).exitCode, 0);
    const s1 = (await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string };
    const { open, victim, before } = await openFolderAndVictim(dir);
    const slow = { QRV_FAILPOINTS: 'before-write-back=sleep:3000' };

    // A new target: nothing there when checked; nobody's symlink there when it is opened.
    const planted = path.join(open, 'web.img');
    const running = checkedThenPaused(home, ['recover', 'web', '--from', s1.id, '--to', planted], slow);
    await running.checked;
    await execa('runuser', ['-u', 'nobody', '--', 'ln', '-s', victim, planted]);
    const refused = await running.done;
    t.equal(refused.exitCode, 4, refused.stderr);
    t.match(
      refused.stderr,
      /target \S+ (was replaced by a symlink|appeared) since it was checked; nothing was written to it/,
    );
    t.equal(await sha256(victim), before, "root's file is unchanged");
    t.ok((await fs.lstat(planted)).isSymbolicLink(), 'the symlink is left as it was');
    await fs.unlink(planted);

    // An existing target (--force): swapped for another file after the check.
    const mine = path.join(open, 'mine.img');
    await fs.writeFile(mine, Buffer.alloc(4096, 1), { mode: 0o644 });
    await fs.chown(mine, 65534, 65534);
    const swapping = checkedThenPaused(home, ['recover', 'web', '--from', s1.id, '--to', mine, '--force'], slow);
    await swapping.checked;
    await execa('runuser', [
      '-u',
      'nobody',
      '--',
      'sh',
      '-c',
      `mv "${mine}" "${mine}.old" && ln -s "${victim}" "${mine}"`,
    ]);
    const swapped = await swapping.done;
    t.equal(swapped.exitCode, 4, swapped.stderr);
    t.equal(await sha256(victim), before, "root's file is still unchanged");

    // Left alone, the same target is written, and keeps its owner's mode (it is the admin's file).
    await fs.unlink(mine);
    await fs.rename(`${mine}.old`, mine);
    const ok = await qrv(home, ['recover', 'web', '--from', s1.id, '--to', mine, '--force']);
    t.equal(ok.exitCode, 0, ok.stderr);
    t.equal(await sha256(mine), await sha256(web), 'the target holds the snapshot');
    t.equal((await fs.stat(mine)).mode & 0o7777, 0o644, 'its mode is kept');
  },
);

/** A --json recovery started; `checked` resolves once its "check target" step is done (it then sleeps in the failpoint). */
function checkedThenPaused(home: string, args: string[], env: Record<string, string>) {
  const child = execa(process.execPath, [BIN, '--home', home, '--json', ...args], {
    reject: false,
    env: { CI: '', ...env },
    stdin: 'ignore',
    timeout: 240_000,
  });
  const checked = new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/"step":"check target","state":"done"/.test(seen)) resolve();
    });
    child.once('exit', () => reject(new Error(`the recovery ended before its target was checked: ${seen}`)));
  });
  const done = child.then((r) => ({ exitCode: r.exitCode ?? -1, stderr: `${String(r.stderr)}${String(r.stdout)}` }));
  return { checked, done };
}
