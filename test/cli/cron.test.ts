// End to end for policies, sub-clients, pools and cron: the real bin/qrv on real ext4 images.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image, sha256 } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function catalogOf(home: string) {
  return JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
}

async function ok(t: Test, home: string, args: string[]) {
  const run = await qrv(home, args);
  t.equal(run.exitCode, 0, `qrv ${args.join(' ')}: ${run.stderr}`);
  return run;
}

// The issue asks for 2 s persistence; one cron run here (two sparse-copy snapshots, two copies
// verified, with other tests running alongside) can itself take longer than 2 s, and its prune
// would then remove its own snapshots (seen here under load, even with 5 s). 15 s keeps the
// sequence deterministic; the test waits
// for the recorded persist-until rather than a guessed time.
t.test('a policy with short persistence and a pool of three members, driven by qrv cron', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const a = await ext4Image(dir, 'a', 16, { 'a.txt': 'volume a\n' });
  const b = await ext4Image(dir, 'b', 32, { 'b.txt': 'volume b\n' });
  const big = await ext4Image(dir, 'big', 128, { 'big.txt': 'too big for the pool\n' });
  await fs.mkdir(path.join(dir, 'pool'));
  const member = (n: string) => path.join(dir, 'pool', `${n}.img`);
  await ok(t, home, ['volume', 'add', 'a', '--path', a]);
  await ok(t, home, ['volume', 'add', 'b', '--path', b]);
  await ok(t, home, ['volume', 'add', 'big', '--path', big]);
  await ok(t, home, ['pool', 'add', 'pl']);
  await ok(t, home, ['pool', 'member', 'add', 'pl', member('m100'), '--capacity', '100M']);
  await ok(t, home, ['pool', 'member', 'add', 'pl', member('m20'), '--capacity', '20M']);
  await ok(t, home, ['pool', 'member', 'add', 'pl', member('m40'), '--capacity', '40M']);
  await ok(t, home, [
    'policy',
    'add',
    'p',
    '--persist',
    '15s',
    '--copy',
    'now',
    '--unsnap',
    'after-persist',
    '--dest',
    'pool:pl',
    '--schedule',
    '* * * * * *',
  ]);
  await ok(t, home, ['subclient', 'add', 'sc', '--volume', 'a', '--volume', 'b', '--policy', 'p']);

  // bad values are refused with the reason and change nothing
  const before = await fs.readFile(path.join(home, 'catalog.json'));
  for (const [args, pattern] of [
    [['policy', 'set', 'p', '--copy', 'sometime'], /--copy "sometime" is not a copy timing/],
    [['policy', 'set', 'p', '--schedule', 'hourly'], /--schedule "hourly" is not a cron expression/],
    [['policy', 'set', 'p', '--persist', 'a while'], /is not a duration/],
    [['policy', 'set', 'p', '--hook', 'mid-copy=true'], /--hook "mid-copy=true" is not PHASE=COMMAND/],
    [['policy', 'set', 'p', '--dest', 'pool:nosuch'], /no pool named "nosuch"/],
    [['subclient', 'add', 'x', '--volume', 'nosuch'], /no volume named "nosuch"/],
  ] as const) {
    const run = await qrv(home, [...args]);
    t.not(run.exitCode, 0, args.join(' '));
    t.match(run.stderr.trim(), pattern);
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line');
  }
  t.same(await fs.readFile(path.join(home, 'catalog.json')), before, 'catalog unchanged by the refusals');

  // the largest volume fits no member: refused before a snapshot is taken
  const refused = await qrv(home, ['run', 'big', '--to', 'pool:pl']);
  t.equal(refused.exitCode, 4);
  t.match(
    refused.stderr,
    /pool "pl" has no free member with room for 128.0 MiB: the largest free member is .*m100.img with 100.0 MiB/,
  );
  t.same(await fs.readFile(path.join(home, 'catalog.json')), before, 'and nothing changed');

  await sleep(1100); // the every-second schedule is due once a second has passed since the sub-client was made
  const first = await qrvJson(home, ['cron']);
  t.equal(first.run.exitCode, 0, first.run.stderr);
  t.equal(first.summary.snapshots.length, 2, 'one group snapshot of a and b');
  t.equal(first.summary.copied.length, 2, 'both copied right away (--copy now)');
  let data = await catalogOf(home);
  const groupIds = new Set(data.snapshots.map((s: { groupId: string }) => s.groupId));
  t.equal(groupIds.size, 1, 'one group id for the sub-client');
  t.ok(
    data.snapshots.every(
      (s: { state: string; copiedTo: string | null; subclient: string }) =>
        s.state === 'ready' && s.copiedTo && s.subclient === 'sc',
    ),
    'kept after the copy (unsnap after-persist)',
  );
  const qrvA = data.qrvs.find((q: { volume: string }) => q.volume === 'a');
  const qrvB = data.qrvs.find((q: { volume: string }) => q.volume === 'b');
  t.equal(qrvA.destination, member('m20'), 'best fit: 16 MiB into the 20 MiB member');
  t.equal(qrvB.destination, member('m40'), 'best fit: 32 MiB into the 40 MiB member');
  t.equal(qrvA.pool, 'pl');
  const reserved = data.pools[0].members
    .filter((m: { qrvId: string | null }) => m.qrvId)
    .map((m: { path: string; volume: string }) => [path.basename(m.path), m.volume]);
  t.same(
    reserved.sort(),
    [
      ['m20.img', 'a'],
      ['m40.img', 'b'],
    ],
    'members reserved in the catalog',
  );
  t.equal(await sha256(member('m20')), await sha256(a), 'QRV of a is a byte for byte');
  t.equal(await sha256(member('m40')), await sha256(b));

  const dry = await qrvJson(home, ['prune', '--dry-run']);
  t.same(dry.summary.wouldRemove, [], 'nothing has lapsed yet');

  const lapse = Math.max(...data.snapshots.map((s: { persistUntil: string }) => Date.parse(s.persistUntil)));
  await sleep(Math.max(0, lapse - Date.now()) + 200);
  await execa('debugfs', ['-w', '-R', 'rm /a.txt', a]);
  const lapsed = await qrvJson(home, ['prune', '--dry-run']);
  t.equal(lapsed.summary.wouldRemove.length, 2, 'dry run: both lapsed snapshots would go');
  t.same(await catalogOf(home), data, 'and the dry run changed nothing');

  const second = await qrvJson(home, ['cron']);
  t.equal(second.run.exitCode, 0, second.run.stderr);
  t.equal(second.summary.snapshots.length, 2, 'the next group');
  t.equal(second.summary.copied.length, 2);
  t.equal(second.summary.pruned.length, 2, 'the first group, lapsed, is pruned');
  data = await catalogOf(home);
  t.equal(data.qrvs.length, 2, 'the same two QRVs, updated');
  t.equal(data.qrvs.find((q: { volume: string }) => q.volume === 'a').history.length, 2);
  t.equal(await sha256(member('m20')), await sha256(a), 'the QRV of a follows the change');
  const store = await fs.readdir(path.join(dir, '.qrv-snapshots'));
  t.equal(store.length, 2, 'only the newest group is left on disk');
  t.equal(data.snapshots.filter((s: { state: string }) => s.state === 'removed').length, 2);

  // the QRV's member is given back when the QRV is removed
  const removed = await qrv(home, ['remove', qrvA.id]);
  t.equal(removed.exitCode, 0, removed.stderr);
  data = await catalogOf(home);
  t.equal(
    data.pools[0].members.find((m: { path: string }) => m.path === member('m20')).qrvId,
    null,
    'member m20 is free again',
  );
});

t.test('qrv cron is quiet when nothing is due, and a second one skips while one runs', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const quiet = await qrv(home, ['cron']);
  t.equal(quiet.exitCode, 0);
  t.equal(quiet.stdout, '', 'nothing to say, nothing said');
  t.equal(quiet.stderr, '');

  const a = await ext4Image(dir, 'a', 16, { 'a.txt': 'a\n' });
  await ok(t, home, ['volume', 'add', 'a', '--path', a]);
  await ok(t, home, [
    'policy',
    'add',
    'slow',
    '--dest',
    path.join(dir, 'qrvs'),
    '--schedule',
    '* * * * * *',
    '--hook',
    'pre-copy=sleep 4',
  ]);
  await fs.mkdir(path.join(dir, 'qrvs'));
  await ok(t, home, ['volume', 'set', 'a', '--policy', 'slow']);
  await sleep(1100);
  const long = execa('node', [BIN, '--home', home, 'cron'], { reject: false });
  await sleep(1500);
  const second = await qrv(home, ['cron']);
  t.equal(second.exitCode, 0, 'skipping is not an error');
  t.match(second.stdout, /another qrv cron is running in this home; skipped/);
  const done = await long;
  t.equal(done.exitCode, 0, String(done.stderr));
  t.match(String(done.stdout), /copied s-[0-9a-f]{12} of a to QRV q-/);
});

t.test('discover adds new image files to the default sub-client, and only once', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  await fs.mkdir(path.join(dir, 'vms'));
  await ext4Image(path.join(dir, 'vms'), 'web', 16, { x: 'x' });
  const found = await qrvJson(home, ['discover', '--path', `${dir}/vms/*.img`]);
  t.equal(found.run.exitCode, 0, found.run.stderr);
  t.same(
    found.summary.added.map((v: { name: string }) => v.name),
    ['web'],
  );
  await ext4Image(path.join(dir, 'vms'), 'db', 16, { y: 'y' });
  const again = await qrvJson(home, ['discover']);
  t.same(
    again.summary.added.map((v: { name: string }) => v.name),
    ['db'],
    'the remembered glob finds the new one only',
  );
  const subclients = await qrvJson(home, ['subclient', 'show', 'default']);
  t.same(subclients.summary.subclient.volumes, ['web', 'db']);
  await fs.writeFile(path.join(dir, 'vms', 'later.img'), Buffer.alloc(1024 * 1024, 1));
  const run = await qrvJson(home, ['run', 'later', '--to', path.join(dir, 'later.qrv')]);
  t.equal(run.run.exitCode, 0, `run re-discovers first: ${run.run.stderr}`);
});

t.test(
  'a volume removed while globs are set is not discovered again until added by hand; --forget drops a glob',
  async (t) => {
    const dir = await fs.realpath(await tmpDir(t));
    const home = path.join(dir, 'home');
    await fs.mkdir(path.join(dir, 'vms'));
    const web = await ext4Image(path.join(dir, 'vms'), 'web', 16, { x: 'x' });
    await ext4Image(path.join(dir, 'vms'), 'db', 16, { y: 'y' });
    const glob = `${dir}/vms/*.img`;
    t.same(
      (await qrvJson(home, ['discover', '--path', glob])).summary.added.map((v: { name: string }) => v.name).sort(),
      ['db', 'web'],
    );

    const removed = await qrv(home, ['volume', 'remove', 'web']);
    t.equal(removed.exitCode, 0, removed.stderr);
    t.match(removed.stdout, new RegExp(`discovery will not add ${web} again \\(\`qrv volume add\` brings it back\\)`));
    const again = await qrvJson(home, ['discover']);
    t.same(again.summary.added, [], 'the removed volume is not found again');
    t.same(again.summary.ignored, [web]);
    t.match(
      (await qrv(home, ['discover'])).stdout,
      new RegExp(`^never added again \\(volumes removed by qrv volume remove\\): ${web}$`, 'm'),
    );
    await ok(t, home, ['snap', 'db']); // a job-running command re-discovers too
    t.notOk(
      (await qrvJson(home, ['volume', 'list'])).summary.volumes.some((v: { name: string }) => v.name === 'web'),
      'nor by the re-discovery before a job',
    );

    await ok(t, home, ['volume', 'add', 'site', '--path', web]);
    t.same((await qrvJson(home, ['discover'])).summary.ignored, [], 'added by hand: no longer ignored');
    await ok(t, home, ['volume', 'remove', 'site']);
    t.same((await qrvJson(home, ['discover'])).summary.ignored, [web], 'removed again: ignored again');

    const unknown = await qrv(home, ['discover', '--forget', '/nowhere/*.img']);
    t.equal(unknown.exitCode, 2);
    t.match(
      unknown.stderr,
      new RegExp(
        `^qrv: --forget "/nowhere/\\*\\.img" is not a remembered discovery glob \\(the remembered ones: ${dir}/vms/\\*\\.img\\)$`,
      ),
    );
    const forgot = await qrv(home, ['discover', '--forget', glob]);
    t.equal(forgot.exitCode, 0, forgot.stderr);
    t.match(forgot.stdout, new RegExp(`^forgot discovery glob ${dir}/vms/\\*\\.img \\(its volumes stay\\)$`, 'm'));
    t.match(forgot.stdout, /^discovery globs: none$/m);
    t.ok(
      (await qrvJson(home, ['volume', 'list'])).summary.volumes.some((v: { name: string }) => v.name === 'db'),
      'the volumes it found stay',
    );
    const none = await qrv(home, ['discover']);
    t.equal(none.exitCode, 2, 'with no glob left, a bare discover is a usage error');
    t.match(none.stderr, /no discovery globs are configured/);
  },
);

t.test('a pool member cannot be used as a plain --to, and check reports a usage error as UNKNOWN', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const a = await ext4Image(dir, 'a', 16, { 'a.txt': 'a\n' });
  await ok(t, home, ['volume', 'add', 'a', '--path', a]);
  await ok(t, home, ['pool', 'add', 'pl']);
  await ok(t, home, ['pool', 'member', 'add', 'pl', path.join(dir, 'm.img'), '--capacity', '20M']);
  const run = await qrv(home, ['run', 'a', '--to', path.join(dir, 'm.img')]);
  t.equal(run.exitCode, 4);
  t.match(run.stderr, /is a member of pool "pl" \(use --to pool:pl/);
  const check = await qrv(home, ['check', '--home']);
  t.equal(check.exitCode, 3);
  t.match(check.stdout, /^QRV UNKNOWN - option '--home <dir>' argument missing$/);
});

t.test('run of a sub-client snapshots its volumes as one group; list filters', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  for (const name of ['x', 'y', 'z'])
    await ok(t, home, ['volume', 'add', name, '--path', await ext4Image(dir, name, 16, { [`${name}.txt`]: name })]);
  await ok(t, home, ['subclient', 'add', 'xy', '--volume', 'x', '--volume', 'y']);
  await fs.mkdir(path.join(dir, 'qrvs'));
  const group = await qrvJson(home, [
    'run',
    'xy',
    '--to',
    path.join(dir, 'qrvs'),
    '--keep-snapshot',
    '--label',
    'nightly',
  ]);
  t.equal(group.run.exitCode, 0, group.run.stderr);
  t.equal(group.summary.snapshots.length, 2);
  t.equal(new Set(group.summary.snapshots.map((s: { groupId: string }) => s.groupId)).size, 1, 'one group id');
  t.same(
    group.summary.snapshots.map((s: { subclient: string }) => s.subclient),
    ['xy', 'xy'],
  );
  t.same(
    (await fs.readdir(path.join(dir, 'qrvs'))).sort(),
    ['x.qrv.img', 'x.qrv.img.qrvledger', 'y.qrv.img', 'y.qrv.img.qrvledger'],
    'each QRV with its hash ledger beside it',
  );
  const between = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  await ok(t, home, ['snap', 'z', '--label', 'adhoc']);
  const ids = async (args: string[]) =>
    (await qrvJson(home, ['list', ...args])).summary.snapshots.map((s: { volume: string }) => s.volume).sort();
  t.same(await ids(['--subclient', 'xy']), ['x', 'y']);
  t.same(await ids(['--label', 'adhoc']), ['z']);
  t.same(await ids(['--as-of', between]), ['x', 'y'], 'what existed at that time');
  t.same(await ids(['--as-of', '1h ago']), [], 'nothing an hour ago');
  t.same(await ids(['--state', 'removed']), []);
  const bad = await qrv(home, ['list', '--as-of', 'the day before']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /--as-of "the day before" is not a time/);
});

t.test(
  'snap of several volumes is one consistency group; a volume named twice or unknown changes nothing',
  async (t) => {
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    for (const name of ['p', 'q'])
      await ok(t, home, ['volume', 'add', name, '--path', await ext4Image(dir, name, 16, { [`${name}.txt`]: name })]);
    const both = await qrvJson(home, ['snap', 'p', 'q', '--label', 'pair']);
    t.equal(both.run.exitCode, 0, both.run.stderr);
    t.equal(both.summary.snapshots.length, 2);
    t.same(
      both.summary.snapshots.map((s: { volume: string }) => s.volume),
      ['p', 'q'],
    );
    t.same(
      new Set(both.summary.snapshots.map((s: { groupId: string }) => s.groupId)),
      new Set([both.summary.groupId]),
      'one group id',
    );
    t.same(
      both.summary.jobs.map((j: { kind: string; state: string }) => `${j.kind}:${j.state}`),
      ['snap:succeeded', 'snap:succeeded'],
    );
    t.ok(
      both.summary.snapshots.every((s: { label: string; state: string }) => s.label === 'pair' && s.state === 'ready'),
    );

    const catalog = path.join(home, 'catalog.json');
    const before = await fs.readFile(catalog);
    const twice = await qrv(home, ['snap', 'p', 'p']);
    t.equal(twice.exitCode, 2);
    t.match(twice.stderr, /volume "p" is named twice/);
    const unknown = await qrv(home, ['snap', 'p', 'nope']);
    t.equal(unknown.exitCode, 3);
    t.same(await fs.readFile(catalog), before, 'nothing changed');
  },
);

t.test(
  'recover --group brings every volume of a group back to its point in time, from snapshots or QRVs',
  async (t) => {
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    const images: Record<string, string> = {};
    for (const name of ['p', 'q']) {
      images[name] = await ext4Image(dir, name, 16, { [`${name}.txt`]: name });
      await ok(t, home, ['volume', 'add', name, '--path', images[name] as string]);
    }
    const group = await qrvJson(home, ['snap', 'p', 'q']);
    t.equal(group.run.exitCode, 0, group.run.stderr);
    const groupId = group.summary.groupId as string;
    const [pSnap] = group.summary.snapshots as Array<{ id: string }>;
    const before = { p: await sha256(images.p as string), q: await sha256(images.q as string) };
    // p's snapshot goes to a QRV and is removed: the group is then recovered from the QRV for p.
    await fs.mkdir(path.join(dir, 'qrvs'));
    await ok(t, home, ['copy', (pSnap as { id: string }).id, '--to', path.join(dir, 'qrvs')]);
    await ok(t, home, ['unsnap', (pSnap as { id: string }).id]);
    const scribble = async () => {
      for (const name of ['p', 'q']) {
        const handle = await fs.open(images[name] as string, 'r+');
        await handle.write(Buffer.alloc(4096, 0xab), 0, 4096, 8192);
        await handle.close();
      }
    };
    await scribble();
    t.not(await sha256(images.p as string), before.p, 'the volumes changed');

    const catalog = path.join(home, 'catalog.json');
    const untouched = await fs.readFile(catalog);
    const refused = await qrv(home, ['recover', '--group', groupId]);
    t.equal(refused.exitCode, 4, 'without --force it would overwrite the volumes');
    t.match(refused.stderr, /exists \(it is the volume\)/);
    t.same(await fs.readFile(catalog), untouched, 'nothing changed');
    t.equal((await qrv(home, ['recover', '--group', 'g-00000000', '--force'])).exitCode, 3, 'unknown group');
    t.equal((await qrv(home, ['recover', 'p', '--group', groupId])).exitCode, 2, '--group with a volume');

    const recovered = await qrvJson(home, ['recover', '--group', groupId, '--force']);
    t.equal(recovered.run.exitCode, 0, recovered.run.stderr);
    t.same(
      recovered.summary.recovered.map((r: { source: string }) => r.source[0]),
      ['q', 's'],
      'p from its QRV, q from its snapshot',
    );
    t.equal(await sha256(images.p as string), before.p, 'p is back');
    t.equal(await sha256(images.q as string), before.q, 'q is back');
  },
);

t.test(
  "run leaves to cron, or to nobody, the copies its volumes' policies do not make now, and says why",
  async (t) => {
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    const dest = path.join(dir, 'dest');
    await ok(t, home, ['policy', 'add', 'never', '--copy', 'never', '--dest', dest]);
    await ok(t, home, ['policy', 'add', 'later', '--copy', 'after:6h', '--dest', dest]);
    await ok(t, home, ['policy', 'add', 'nodest', '--copy', 'now']);
    for (const [name, policy] of [
      ['a', 'never'],
      ['b', 'later'],
      ['c', 'nodest'],
    ] as const) {
      const image = path.join(dir, `${name}.img`);
      await fs.writeFile(image, '');
      await fs.truncate(image, 1 << 20);
      await ok(t, home, ['volume', 'add', name, '--path', image]);
      await ok(t, home, ['volume', 'set', name, '--policy', policy]);
    }
    await ok(t, home, ['subclient', 'add', 'sc', '--volume', 'a', '--volume', 'b', '--volume', 'c']);
    const run = await qrv(home, ['run', 'sc']);
    t.equal(run.exitCode, 0, run.stderr);
    const lines = run.stdout.split('\n');
    t.same(
      lines.filter((l) => l.startsWith('copy of')),
      [
        'copy of a deferred: policy never never copies (--copy never)',
        'copy of b deferred: policy later copies after:6h; qrv cron makes the copy',
        'copy of c deferred: the policy has no --dest',
      ],
    );
    t.equal(lines.filter((l) => /^job j-\S+ succeeded$/.test(l)).length, 3, 'three jobs, each succeeded');
    t.equal(lines.filter((l) => /^snapshot s-\S+ of [abc] ready/.test(l)).length, 3, 'every volume snapshotted');
    t.equal((await fs.readdir(dir)).includes('dest'), false, 'no copy made');
  },
);

t.test('each step of cron goes on past a failure: its line or its warning, in order, and exit partial', async (t) => {
  const dir = await fs.realpath(await tmpDir(t));
  const home = path.join(dir, 'home');
  for (const name of ['a', 'b', 'c'])
    await ok(t, home, ['volume', 'add', name, '--path', await ext4Image(dir, name, 16, { [`${name}.txt`]: name })]);
  // a store whose folder is replaced by a file: archiving into it fails
  await ok(t, home, ['store', 'add', 'broken', '--dir', path.join(dir, 'broken')]);
  await fs.rm(path.join(dir, 'broken'), { recursive: true });
  await fs.writeFile(path.join(dir, 'broken'), 'not a store');
  await ok(t, home, ['store', 'add', 'vault', '--dir', path.join(dir, 'vault')]);
  await fs.mkdir(path.join(dir, 'vms'));
  await ok(t, home, ['discover', '--path', `${dir}/vms/*.img`]);
  const qrvs = path.join(dir, 'qrvs');
  await fs.mkdir(qrvs);
  const every = ['--dest', qrvs, '--copy', 'now', '--schedule', '* * * * * *'];
  await ok(t, home, ['policy', 'add', 'fails', ...every, '--hook', 'pre-copy=exit 3', '--archive-to', 'broken']);
  await ok(t, home, ['policy', 'add', 'works', ...every, '--archive-to', 'vault']);
  await ok(t, home, ['volume', 'set', 'a', '--policy', 'fails']);
  await ok(t, home, ['volume', 'set', 'c', '--policy', 'works']);
  // b's lapsed snapshot cannot be pruned: its row names a file outside the volume's snapshot store
  await ok(t, home, ['snap', 'b', '--persist', '1s']);
  const catalog = path.join(home, 'catalog.json');
  const edited = await catalogOf(home);
  const lapsed = edited.snapshots[0].id as string;
  edited.snapshots[0].handle = path.join(dir, 'elsewhere.img');
  await fs.writeFile(catalog, JSON.stringify(edited, null, 2));
  await fs.writeFile(path.join(dir, 'vms', 'new.img'), Buffer.alloc(1024 * 1024));
  await sleep(1100);

  const run = await qrv(home, ['cron']);
  t.equal(run.exitCode, 11, 'partial');
  let data = await catalogOf(home);
  const of = (volume: string) => data.snapshots.filter((s: { volume: string }) => s.volume === volume);
  const [a1] = of('a').map((s: { id: string }) => s.id);
  const [c1] = of('c').map((s: { id: string }) => s.id);
  const qrvC = data.qrvs.find((q: { volume: string }) => q.volume === 'c').id;
  const archived = data.archives.find((r: { volume: string }) => r.volume === 'c').id;
  const stepLine = /^(snapshot|copy|verify|unsnap|archive|hook [a-z-]+): /;
  t.same(
    run.stdout.split('\n').filter((line) => line !== '' && !stepLine.test(line)),
    [
      `discovered volume new (${dir}/vms/new.img)`,
      `snapshot volume a: ${a1} of a`,
      `snapshot volume c: ${c1} of c`,
      `copied ${c1} of c to QRV ${qrvC}, snapshot removed`,
      `archived c to vault as ${archived}`,
    ],
    'a line for each thing done',
  );
  const notInStore = `snapshot file ${dir}/elsewhere.img is not in the snapshot store ${dir}/.qrv-snapshots of volume "b"`;
  const notAStore = `refusing the archive store ${dir}/broken: it is not a folder, or is a symbolic link`;
  const failures = [
    `copy ${a1} of a: pre-copy hook exited with status 3: exit 3`,
    `archive ${a1} of a to broken: ${notAStore}`,
    `prune ${lapsed}: ${notInStore}`,
  ];
  t.same(
    run.stderr.split('\n').filter(Boolean),
    [
      `warning: snapshot ${a1} is kept although the copy failed`,
      `warning: could not remove ${lapsed} of b: ${notInStore}`,
      ...failures.map((failure) => `warning: ${failure}`),
    ],
    'the failures are warned at the end',
  );

  await sleep(1100);
  const again = await qrvJson(home, ['cron']);
  t.equal(again.run.exitCode, 11);
  data = await catalogOf(home);
  const a2 = of('a').find((s: { id: string }) => s.id !== a1).id;
  const c2 = data.qrvs.find((q: { volume: string }) => q.volume === 'c').snapshotId; // c's snapshot went after its copy
  t.not(c2, c1);
  t.same(again.summary, {
    message_type: 'summary',
    skipped: false,
    discovered: [],
    snapshots: [a2, c2],
    copied: [c2],
    archived: [data.archives.filter((r: { volume: string }) => r.volume === 'c')[1].id],
    pruned: [],
    failures: [
      `copy ${a1} of a: pre-copy hook exited with status 3: exit 3`,
      `copy ${a2} of a: pre-copy hook exited with status 3: exit 3`,
      `archive ${a2} of a to broken: ${notAStore}`,
      `prune ${lapsed}: ${notInStore}`,
    ],
    cowWarnings: [],
  });
});
