// End to end through bin/qrv: resolve, ls and find on real ext4 images, by id and by --as-of.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { ext4Image } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { failsCleanly } from '../helpers/assert.ts';
import { browseMounts } from '../helpers/browse-tree.ts';
import { nobodyHome } from '../helpers/nobody.ts';

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS'];

t.test('snap, change, snap, copy, unsnap: resolve and browse each point in time', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const catalog = path.join(home, 'catalog.json');
  const image = await ext4Image(dir, 'web', 32, {
    'hello.txt': 'hello\n',
    'etc/app.conf': 'x = 1\n',
    'etc/ssh/sshd_config': 'Port 22\n',
    'data/a.bin': Buffer.alloc(100_000, 1),
  });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);

  const first = await qrvJson(home, ['snap', 'web', '--label', 'first']);
  t.equal(first.run.exitCode, 0, first.run.stderr);
  const s1 = first.summary.snapshot as { id: string; createdAt: string };
  await sleep(1100);
  const between = new Date(Date.now() - 500).toISOString();
  await sleep(600);
  const newFile = path.join(dir, 'new.txt');
  await fs.writeFile(newFile, 'new\n');
  await execa('debugfs', ['-w', '-R', `write ${newFile} /new.txt`, image]);
  await execa('debugfs', ['-w', '-R', 'rm /hello.txt', image]);
  const second = await qrvJson(home, ['snap', 'web']);
  const s2 = second.summary.snapshot as { id: string; createdAt: string };
  const copy = await qrvJson(home, ['copy', s1.id, '--to', path.join(dir, 'web.qrv.img')]);
  t.equal(copy.run.exitCode, 0, copy.run.stderr);
  const q1 = copy.summary.qrv as { id: string };
  t.equal((await qrv(home, ['unsnap', s1.id])).exitCode, 0);

  // resolve: between the snapshots, the QRV of the first (its snapshot is gone); now, the second
  const mid = await qrvJson(home, ['resolve', 'web', '--as-of', between]);
  t.equal(mid.run.exitCode, 0, mid.run.stderr);
  t.match(mid.summary.chosen, { id: q1.id, kind: 'qrv', pointInTime: s1.createdAt });
  t.equal(mid.summary.volume, 'web');
  t.equal(mid.summary.asOf, between);
  t.match(mid.summary.passedOver, [
    { id: s2.id, kind: 'snapshot', reason: /^too new/ },
    { id: s1.id, kind: 'snapshot', reason: /^removed at / },
  ]);
  const plain = await qrv(home, ['resolve', 'web', '--as-of', between]);
  t.match(
    plain.stdout,
    new RegExp(`^web as of .*: ${q1.id}, a QRV holding the state of .*\\npassed over:\\n  ${s2.id} +snapshot +too new`),
  );
  const latest = await qrvJson(home, ['resolve', 'web', '--as-of', 'now']);
  t.match(latest.summary.chosen, { id: s2.id, kind: 'snapshot', pointInTime: s2.createdAt });
  t.match(
    latest.summary.passedOver.find((p: { id: string }) => p.id === q1.id),
    { kind: 'qrv', reason: /^older than the chosen one/ },
  );
  t.match(
    latest.summary.passedOver.find((p: { id: string }) => p.id === s1.id),
    { kind: 'snapshot', reason: /^removed at/ },
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['resolve', 'web', '--as-of', '2020-01-01T00:00Z']),
    3,
    /^qrv: no snapshot or QRV holds web as of 2020-01-01 00:00:00Z: .* \(choose a later time/,
  );
  const none = await qrvJson(home, ['resolve', 'web', '--as-of', 'yesterday']);
  t.equal(none.run.exitCode, 3);
  t.match(
    JSON.parse(none.run.stderr),
    { message_type: 'error', code: 'nothing-at-time', exitCode: 3 },
    'with --json the error is one JSON object',
  );

  // ls and find at the point in time between: hello.txt is there, new.txt is not
  for (const via of ['debugfs', 'auto']) {
    const listed = await qrvJson(home, ['ls', '--volume', 'web', '--as-of', between, '--via', via]);
    t.equal(listed.run.exitCode, 0, listed.run.stderr);
    t.match(listed.summary.source, {
      id: q1.id,
      kind: 'qrv',
      fsType: 'ext4',
      method: via === 'auto' && process.getuid?.() === 0 ? 'mount' : 'debugfs',
    });
    t.same(
      listed.summary.entries.map((e: { name: string }) => e.name).sort(),
      ['data', 'etc', 'hello.txt', 'lost+found'],
      `${via}: the state between the snapshots`,
    );
  }
  const now = await qrvJson(home, ['ls', `${s2.id}:/`]);
  t.same(now.summary.entries.map((e: { name: string }) => e.name).sort(), ['data', 'etc', 'lost+found', 'new.txt']);
  const conf = await qrvJson(home, ['ls', `${s2.id}:etc/app.conf`]);
  t.match(conf.summary.entries, [
    {
      name: 'app.conf',
      path: '/etc/app.conf',
      type: 'file',
      size: 6,
      mode: 0o100644,
      uid: process.getuid?.(),
      gid: process.getgid?.(),
      mtime: /^\d{4}-\d\d-\d\dT/,
    },
  ]);
  const long = await qrv(home, ['ls', `${s2.id}:/etc`, '--long']);
  t.equal(long.exitCode, 0, long.stderr);
  const lines = long.stdout.trim().split('\n');
  t.match(lines[0], new RegExp(`^${s2.id} \\(.*\\) of web: ext4, read by `));
  t.match(lines[1], /^-rw-r--r-- 1 \S+ +\S+ +6 \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ app.conf$/);
  t.match(lines[2], /^drwxr-xr-x 2 .* ssh$/);

  const found = await qrvJson(home, ['find', s2.id, '**/*.conf', 'etc/**', '--via', 'debugfs']);
  t.equal(found.run.exitCode, 0, found.run.stderr);
  t.same(
    found.summary.entries.map((e: { path: string }) => e.path),
    ['/etc', '/etc/app.conf', '/etc/ssh', '/etc/ssh/sshd_config'],
    'etc/** matches etc itself too, as fast-glob does',
  );
  t.same(found.summary.patterns, ['**/*.conf', 'etc/**']);
  const foundPlain = await qrv(home, ['find', '--volume', 'web', '--as-of', between, '*.txt']);
  t.same(foundPlain.stdout.trim().split('\n').slice(1), ['/hello.txt']);

  // refusals: one line, a status, the catalog untouched
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['ls', s1.id]),
    4,
    new RegExp(
      `^qrv: snapshot ${s1.id} was removed at .* \\(QRV ${q1.id} holds the same point in time: \`qrv ls ${q1.id}\`\\)$`,
    ),
  );
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['ls', `${s2.id}:/etc/nope`]),
    3,
    new RegExp(`^qrv: /etc/nope is not in ${s2.id} \\(no "nope" in /etc\\)`),
  );
  await failsCleanly(t, catalog, () => qrv(home, ['find', 'etc/**']), 2, /is not a snapshot or QRV id/);
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['ls', s2.id, '--via', 'sideways']),
    2,
    /--via "sideways" is not a way to read/,
  );
  await failsCleanly(t, catalog, () => qrv(home, ['ls', s2.id, '--as-of', 'now']), 2, /not both/);

  // a volume without a filesystem, and XFS through debugfs
  const raw = path.join(dir, 'raw.img');
  await fs.writeFile(raw, Buffer.alloc(4 << 20));
  t.equal((await qrv(home, ['volume', 'add', 'raw', '--path', raw])).exitCode, 0);
  const rawSnap = (await qrvJson(home, ['snap', 'raw'])).summary.snapshot as { id: string };
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['ls', rawSnap.id]),
    4,
    new RegExp(`^qrv: ${rawSnap.id} \\(.*\\) holds no filesystem qrv can read: all zeros`),
  );
  const xfs = path.join(dir, 'x.img');
  await fs.writeFile(xfs, Buffer.alloc(0));
  await fs.truncate(xfs, 320 << 20);
  await execa('mkfs.xfs', ['-q', '-f', xfs]);
  t.equal((await qrv(home, ['volume', 'add', 'x', '--path', xfs])).exitCode, 0);
  const xSnap = (await qrvJson(home, ['snap', 'x'])).summary.snapshot as { id: string };
  await failsCleanly(
    t,
    catalog,
    () => qrv(home, ['ls', xSnap.id, '--via', 'debugfs']),
    4,
    /holds xfs, which debugfs cannot read \(run qrv as root/,
  );

  // a sub-client: one answer per volume
  t.equal((await qrv(home, ['subclient', 'add', 'both', '--volume', 'web', '--volume', 'raw'])).exitCode, 0);
  const both = await qrvJson(home, ['resolve', 'both', '--as-of', between]);
  t.equal(both.run.exitCode, 11, 'raw had nothing then: partial');
  t.match(both.summary, {
    subclient: 'both',
    volumes: [
      { volume: 'web', chosen: { id: q1.id } },
      { volume: 'raw', chosen: null },
    ],
  });
  t.same(await browseMounts(), [], 'nothing left mounted');
});

t.test(
  'root: SIGINT while `qrv ls` holds a copy mounted (failpoint after-mount): exit 130, nothing left mounted',
  async (t) => {
    if (!lane(t, 'interrupted ls', { root: true, tools: ['mount', 'umount'] })) return;
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    const image = await ext4Image(dir, 'web', 16, { 'hello.txt': 'hello\n' });
    t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
    const snap = (await qrvJson(home, ['snap', 'web'])).summary.snapshot as { id: string };
    t.same(await browseMounts(), [], 'nothing mounted before');
    const child = execa(process.execPath, [BIN, '--home', home, 'ls', snap.id, '--via', 'mount'], {
      reject: false,
      env: { CI: '', QRV_FAILPOINTS: 'after-mount=sleep:60000' },
    });
    let mounts: string[] = [];
    for (let i = 0; i < 300 && mounts.length === 0; i++) {
      await sleep(100);
      mounts = await browseMounts();
    }
    t.equal(mounts.length, 1, 'qrv ls mounted the snapshot read-only');
    const mountpoint = mounts[0]?.split(' ')[1] ?? '';
    child.kill('SIGINT');
    const result = await child;
    t.equal(result.exitCode, 130, 'exit 130 (interrupted)');
    t.match(result.stderr, /^qrv: interrupted by SIGINT/);
    let left = await browseMounts();
    for (let i = 0; i < 100 && left.length; i++) {
      await sleep(100);
      left = await browseMounts();
    }
    t.same(left, [], 'unmounted by the guard once qrv was gone');
    let folder = await fs.stat(mountpoint).catch(() => null);
    for (let i = 0; i < 50 && folder; i++) {
      await sleep(100);
      folder = await fs.stat(mountpoint).catch(() => null);
    }
    t.notOk(folder, 'and its folder removed');
  },
);

t.test('as nobody: a copy it may not read, or whose folder it may not enter, is refused with the reason', async (t) => {
  if (!lane(t, 'unreadable copy', { root: true, tools: ['setpriv', 'debugfs'] })) return;
  const dir = await tmpDir(t);
  const rootHome = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 16, { 'hello.txt': 'hello\n' });
  t.equal((await qrv(rootHome, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const snap = (await qrvJson(rootHome, ['snap', 'web'])).summary.snapshot as { id: string; path: string };
  const home = await nobodyHome(dir, rootHome);
  const readable = await qrv(home, ['ls', snap.id], {}, NOBODY);
  t.equal(readable.exitCode, 0, readable.stderr);
  t.match(readable.stdout, /read by debugfs/, 'readable: nobody reads it with debugfs');
  const refused = `qrv: ${snap.path} (${snap.id}) cannot be read by this user (run qrv as root, or as a user that may read it)`;
  await fs.chmod(snap.path, 0o400);
  const unreadable = await qrv(home, ['ls', snap.id], {}, NOBODY);
  t.equal(unreadable.exitCode, 4, 'the image is not readable: refused');
  t.equal(unreadable.stderr, refused);
  await fs.chmod(snap.path, 0o444);
  const folder = path.dirname(snap.path);
  const mode = (await fs.stat(folder)).mode & 0o7777;
  await fs.chmod(folder, 0o700);
  t.teardown(() => fs.chmod(folder, mode));
  const hidden = await qrv(home, ['ls', snap.id], {}, NOBODY);
  t.equal(hidden.exitCode, 4, 'its folder cannot be entered: refused the same way');
  t.equal(hidden.stderr, refused);
});

t.test('find --dot lets * match dot files; ls --volume takes a path with or without its ":"', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 16, { '.env': 'A=1\n', 'app.conf': 'x\n', 'etc/hosts': 'h\n' });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const snap = await qrvJson(home, ['snap', 'web']);
  t.equal(snap.run.exitCode, 0, snap.run.stderr);
  const id = snap.summary.snapshot.id as string;
  const paths = async (args: string[]) => {
    const run = await qrvJson(home, [...args, '--via', 'debugfs']);
    t.equal(run.run.exitCode, 0, `${args.join(' ')}: ${run.run.stderr}`);
    return run.summary.entries.map((e: { path: string }) => e.path).sort();
  };
  t.same(await paths(['find', id, '*']), ['/app.conf', '/etc', '/lost+found'], 'without --dot: no .env');
  t.same(await paths(['find', id, '*', '--dot']), ['/.env', '/app.conf', '/etc', '/lost+found'], 'with --dot');
  t.same(await paths(['find', '--volume', 'web', '--as-of', 'now', '--dot', '.*']), ['/.env'], 'by volume');
  for (const target of ['etc', ':etc', '/etc'])
    t.same(await paths(['ls', '--volume', 'web', '--as-of', 'now', target]), ['/etc/hosts'], `ls --volume ${target}`);
});
