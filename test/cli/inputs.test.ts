// Bad input gets one clear line, a documented exit status, and changes nothing: durations and
// sizes bounded at parse time, policies written before the bounds, refusals before the first write.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { unchangedBy } from '../helpers/unchanged.ts';

async function setup(t: Test) {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'vol', 16, { 'hello.txt': 'hello\n' });
  const added = await qrv(home, ['volume', 'add', 'vol', '--provider', 'file', '--path', image]);
  t.equal(added.exitCode, 0, added.stderr);
  return { dir, home, image, catalog: path.join(home, 'catalog.json') };
}

/** Exit status `status` and exactly one stderr line matching `pattern`. */
function oneLine(
  t: Test,
  run: { exitCode: number; stderr: string; stdout: string },
  status: number,
  pattern: RegExp,
  what: string,
) {
  t.equal(run.exitCode, status, `${what}: exit ${status} (${run.stderr})`);
  const lines = run.stderr.trim().split('\n');
  t.equal(lines.length, 1, `${what}: one line on stderr`);
  t.match(lines[0], pattern, what);
  t.notMatch(run.stderr, /internal error|Invalid time value|\n\s+at /, `${what}: no internal error`);
}

t.test('durations and sizes beyond their limits are usage errors naming the limit, before any hook runs', async (t) => {
  const { dir, home, catalog } = await setup(t);
  const snap = await qrvJson(home, ['snap', 'vol']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  const id = snap.summary.snapshot.id as string;
  const mark = path.join(dir, 'hook-ran');
  const hook = `pre-snapshot=touch ${mark}`;
  const persist = /^qrv: --persist "(1000000000d|300000y)" is longer than the limit of 100 years \(give 100y or less/;
  const timeout = /^qrv: --hook-timeout "30d" is longer than the limit of 24 days \(2\^31-1 ms\) \(give 24d or less/;
  const cases: Array<[string[], RegExp]> = [
    [['snap', 'vol', '--persist', '1000000000d', '--hook', hook], persist],
    [['snap', 'vol', '--persist', '300000y', '--hook', hook], persist],
    [
      ['run', 'vol', '--to', path.join(dir, 'q.img'), '--keep-snapshot', '--persist', '1000000000d', '--hook', hook],
      persist,
    ],
    [['set', id, '--persist', '300000y'], persist],
    [['policy', 'add', 'p', '--persist', '1000000000d'], persist],
    [['snap', 'vol', '--hook-timeout', '30d', '--hook', hook], timeout],
    [['run', 'vol', '--to', path.join(dir, 'q.img'), '--hook-timeout', '30d', '--hook', hook], timeout],
    [['policy', 'add', 'p', '--hook-timeout', '30d'], timeout],
    [['policy', 'add', 'p', '--copy', 'after:300000y'], /^qrv: --copy "after:300000y" is not a copy timing/],
    [['list', '--as-of', '300000y ago'], /^qrv: --as-of "300000y" is longer than the limit of 100 years/],
    [['pool', 'add', 'pl'], /^$/],
  ];
  for (const [args, pattern] of cases) {
    if (args[0] === 'pool') {
      t.equal((await qrv(home, args)).exitCode, 0);
      continue;
    }
    const run = await unchangedBy(t, catalog, [dir], () => qrv(home, args), args.join(' '));
    oneLine(t, run, 2, pattern, args.join(' '));
  }
  await t.rejects(fs.stat(mark), 'the pre-snapshot hook never ran');
  const pset = await qrv(home, ['policy', 'add', 'p', '--persist', '7d']);
  t.equal(pset.exitCode, 0, pset.stderr);
  const sized = await unchangedBy(
    t,
    catalog,
    [dir],
    () => qrv(home, ['pool', 'member', 'add', 'pl', path.join(dir, 'm.img'), '--capacity', '9000P']),
    'capacity 9000P',
  );
  oneLine(t, sized, 2, /^qrv: --capacity "9000P" is larger than the limit of 8 PiB \(2\^53-1 bytes\)/, 'capacity');
  const setp = await unchangedBy(
    t,
    catalog,
    [dir],
    () => qrv(home, ['policy', 'set', 'p', '--persist', '300000y']),
    'policy set',
  );
  oneLine(t, setp, 2, persist, 'policy set --persist');
  const json = await qrv(home, ['--json', 'snap', 'vol', '--persist', '1000000000d']);
  t.match(JSON.parse(json.stderr), { code: 'duration-too-long', exitCode: 2 });

  // the limits themselves are accepted, and a 24-day hook timeout does not fire at once
  const long = await qrvJson(home, [
    'snap',
    'vol',
    '--persist',
    '100y',
    '--hook-timeout',
    '24d',
    '--hook',
    'pre-snapshot=sleep 0.5',
  ]);
  t.equal(long.run.exitCode, 0, long.run.stderr);
  t.ok(Date.parse(long.summary.snapshot.persistUntil) > Date.now() + 99 * 365 * 86_400_000, 'persists 100 years');
});

t.test(
  'a policy written before the limits: run and cron name it and how to fix it, and cron goes on with the others',
  async (t) => {
    const { dir, home, catalog } = await setup(t);
    const other = await ext4Image(dir, 'other', 16, { 'o.txt': 'other\n' });
    t.equal((await qrv(home, ['volume', 'add', 'other', '--path', other])).exitCode, 0);
    t.equal(
      (
        await qrv(home, [
          'policy',
          'add',
          'long',
          '--persist',
          '7d',
          '--unsnap',
          'after-persist',
          '--copy',
          'never',
          '--schedule',
          '* * * * * *',
          '--hook-timeout',
          '30s',
        ])
      ).exitCode,
      0,
    );
    t.equal(
      (
        await qrv(home, [
          'policy',
          'add',
          'fine',
          '--persist',
          '7d',
          '--unsnap',
          'after-persist',
          '--copy',
          'never',
          '--schedule',
          '* * * * * *',
        ])
      ).exitCode,
      0,
    );
    t.equal((await qrv(home, ['volume', 'set', 'vol', '--policy', 'long'])).exitCode, 0);
    t.equal((await qrv(home, ['volume', 'set', 'other', '--policy', 'fine'])).exitCode, 0);
    // What an older qrv let in: edit the row as it would have written it.
    const data = JSON.parse(await fs.readFile(catalog, 'utf8'));
    const row = data.policies.find((p: { name: string }) => p.name === 'long');
    row.persist = '1000000000d';
    row.hooks = { 'pre-snapshot': `touch ${path.join(dir, 'hook-ran')}` };
    await fs.writeFile(catalog, JSON.stringify(data, null, 2));

    const run = await unchangedBy(t, catalog, [dir], () => qrv(home, ['run', 'vol']), 'run vol');
    oneLine(
      t,
      run,
      5,
      /^qrv: policy "long" holds --persist "1000000000d", which qrv refuses: .*limit of 100 years \(change it with `qrv policy set long --persist <value>`/,
      'run',
    );
    await t.rejects(fs.stat(path.join(dir, 'hook-ran')), 'its pre-snapshot hook never ran');

    await new Promise((resolve) => setTimeout(resolve, 1100)); // the per-second schedule is due
    const cron = await qrvJson(home, ['cron']);
    t.equal(cron.run.exitCode, 11, `cron: partial (${cron.run.stderr})`);
    t.match(cron.run.stdout, /policy \\"long\\" holds --persist/, 'the warning names the policy');
    t.equal(cron.summary.snapshots.length, 1, 'the other volume was snapshotted');
    const after = JSON.parse(await fs.readFile(catalog, 'utf8'));
    t.same(
      after.snapshots.map((s: { volume: string; state: string }) => `${s.volume} ${s.state}`),
      ['other ready'],
      'nothing of vol, no failed rows',
    );

    // the fix the message names works
    t.equal((await qrv(home, ['policy', 'set', 'long', '--persist', '100y'])).exitCode, 0);
    const fixed = await qrvJson(home, ['run', 'vol']);
    t.equal(fixed.run.exitCode, 0, fixed.run.stderr);
  },
);

t.test(
  'refused before the first write: a bad QRV_FAILPOINTS, recover --to the copy itself, --path with ".."',
  async (t) => {
    const { dir, home, catalog } = await setup(t);
    const dest = path.join(dir, 'q.img');
    const made = await qrvJson(home, ['run', 'vol', '--to', dest, '--keep-snapshot']);
    t.equal(made.run.exitCode, 0, made.run.stderr);
    const snapshot = made.summary.snapshot as { id: string; path: string };
    const qrvId = made.summary.qrv.id as string;

    for (const spec of ['after-snapshot=bogus', 'aftr-freeze=kill', 'after-freeze=sleep:99999999999']) {
      const run = await unchangedBy(
        t,
        catalog,
        [dir],
        () => qrv(home, ['snap', 'vol'], { QRV_FAILPOINTS: spec }),
        `QRV_FAILPOINTS=${spec}`,
      );
      oneLine(t, run, 2, /^qrv: QRV_FAILPOINTS: .* \(give a comma list of NAME=ACTION/, spec);
    }

    for (const [from, to] of [
      [snapshot.id, snapshot.path],
      [qrvId, dest],
    ] as const) {
      const run = await unchangedBy(
        t,
        catalog,
        [dir],
        () => qrv(home, ['recover', 'vol', '--from', from, '--to', to, '--force']),
        `recover --from ${from} --to itself`,
      );
      oneLine(
        t,
        run,
        4,
        new RegExp(`^qrv: ${to.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is ${from} itself`),
        `recover ${from} onto itself`,
      );
    }

    const out = path.join(dir, 'out');
    for (const wanted of ['../..', '/etc/../..']) {
      const run = await unchangedBy(
        t,
        catalog,
        [dir],
        () => qrv(home, ['recover', 'vol', '--from', snapshot.id, '--path', wanted, '--to', out]),
        `recover --path ${wanted}`,
      );
      oneLine(t, run, 2, /^qrv: --path ".*" is refused: ".." in the path/, `--path ${wanted}`);
    }
    // Nothing to restore (the path is not in the copy): the job is recorded, but no empty --to folder is left.
    const missing = await qrv(home, ['recover', 'vol', '--from', snapshot.id, '--path', '/no/such/file', '--to', out]);
    t.equal(missing.exitCode, 11, missing.stderr);
    await t.rejects(fs.stat(out), 'no empty --to folder left behind');
  },
);

t.test(
  'what the command lines of recover, copy, ls, set, volume set and resolve refuse: exit 2, one line, nothing changed',
  async (t) => {
    const { dir, home, catalog } = await setup(t);
    const snap = await qrvJson(home, ['snap', 'vol']);
    t.equal(snap.run.exitCode, 0, snap.run.stderr);
    const id = snap.summary.snapshot.id as string;
    const to = path.join(dir, 'out.img');
    const needs =
      /^qrv: qrv recover needs a volume and either --from <id> or --as-of <time> \(or --group <id>\) \(e\.g\./;
    const group =
      /^qrv: --group takes no volume, --from, --as-of or --to: .* \(give `qrv recover --group G --force`\)$/;
    const copyNeeds = /^qrv: qrv copy needs a snapshot id and --to <destination> \(e\.g\. `qrv copy s-/;
    const cases: Array<[string[], RegExp]> = [
      [['recover', 'vol'], needs],
      [['recover', '--from', id], needs],
      [['recover', 'vol', '--from', id, '--as-of', 'now', '--to', to], needs],
      [['recover', 'vol', '--group', 'g-00000000', '--force'], group],
      [['recover', '--group', 'g-00000000', '--to', to, '--force'], group],
      [['recover', 'vol', '--from', id, '--to', to, '--via', 'debugfs'], /^qrv: --via goes with --path \(file-level/],
      [['recover', 'vol', '--from', id, '--to', to, '--into', 'db'], /^qrv: --into goes with an application object/],
      [['recover', '--from', id, '--path', '/hello.txt'], /^qrv: qrv recover --path needs the volume the files/],
      [['recover', 'vol', '--from', id, '--path', '/hello.txt', '--full'], /^qrv: --full goes with a whole volume/],
      [['recover', 'vol', '--from', id, '--path', '/hello.txt', '--group', 'g-1'], /^qrv: --group recovers whole/],
      [['recover', 'sqlite:/srv/app.db', '--from', id], /^qrv: recovering sqlite:\/srv\/app\.db takes --as-of, --to/],
      [['copy'], copyNeeds],
      [['copy', id], copyNeeds],
      [['copy', '--to', to], copyNeeds],
      [['copy', '--resume', 'j-000000000000', '--full'], /^qrv: --resume takes no snapshot, --to, --full or --force/],
      [['ls'], /^qrv: qrv ls needs a snapshot or QRV id \(ID or ID:PATH\), or --volume \(e\.g\./],
      [['set', id, '--label', 'two\nlines'], /a label is one line of text: no newline/],
      [
        ['set', id, '--pin', '--unpin'],
        /^qrv: option '--pin' cannot be used with option '--unpin' \(see qrv --help\)$/,
      ],
      [['volume', 'set', 'vol'], /^qrv: required option '--policy <name>' not specified \(see qrv --help\)$/],
      [['resolve', 'vol'], /^qrv: required option '--as-of <time>' not specified \(see qrv --help\)$/],
    ];
    for (const [args, pattern] of cases) {
      const run = await unchangedBy(t, catalog, [dir], () => qrv(home, args), args.join(' '));
      oneLine(t, run, 2, pattern, args.join(' '));
    }
  },
);

t.test('set: --label "" clears the label, --pin and --unpin set and clear the pin', async (t) => {
  const { home } = await setup(t);
  const snap = await qrvJson(home, ['snap', 'vol', '--label', 'first']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  const id = snap.summary.snapshot.id as string;
  const row = async (args: string[]) => {
    const set = await qrvJson(home, ['set', id, ...args]);
    t.equal(set.run.exitCode, 0, `${args.join(' ')}: ${set.run.stderr}`);
    const { label, pinned } = set.summary.snapshot as { label: string | null; pinned: boolean };
    return { label, pinned };
  };
  t.same(await row(['--label', 'second', '--pin']), { label: 'second', pinned: true });
  t.same(await row(['--unpin']), { label: 'second', pinned: false }, '--unpin leaves the label');
  t.same(await row(['--label', '']), { label: null, pinned: false }, '"" clears it');
});
