// End to end through bin/qrv: find a deleted file by time, see it, get it back (F12), as root and
// as an ordinary user (debugfs, no mount); --from/--path order; output in plain and JSON.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { nobodyHome } from '../helpers/nobody.ts';

const root = process.getuid?.() === 0;
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS'];

async function scene(t: Test) {
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o755);
  const home = path.join(dir, 'home');
  const image = await ext4Image(dir, 'web', 32, {
    'hello.txt': 'hello\n',
    'etc/app.conf': 'x = 1\n',
    'data/a.bin': Buffer.alloc(100_000, 1),
  });
  t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
  const first = await qrvJson(home, ['snap', 'web']);
  t.equal(first.run.exitCode, 0, first.run.stderr);
  const s1 = first.summary.snapshot as { id: string; createdAt: string };
  await sleep(1100);
  const between = new Date(Date.now() - 500).toISOString();
  await sleep(600);
  await execa('debugfs', ['-w', '-R', 'rm /hello.txt', image]);
  await execa('debugfs', ['-w', '-R', 'rm /etc/app.conf', image]);
  const newFile = path.join(dir, 'new.txt');
  await fs.writeFile(newFile, 'new\n');
  await execa('debugfs', ['-w', '-R', `write ${newFile} /new.txt`, image]);
  const second = await qrvJson(home, ['snap', 'web']);
  const s2 = second.summary.snapshot as { id: string };
  return { dir, home, image, s1, s2, between };
}

t.test('find a deleted file by time, see it, get it back; --from/--path order; plain and JSON', async (t) => {
  const { dir, home, s1, s2, between } = await scene(t);
  const found = await qrvJson(home, ['find', '--volume', 'web', '--as-of', between, '--via', 'debugfs', '*.txt']);
  t.same(
    found.summary.entries.map((e: { path: string }) => e.path),
    ['/hello.txt'],
    'found by time',
  );
  t.equal((await qrv(home, ['ls', `${s1.id}:/hello.txt`, '--via', 'debugfs'])).exitCode, 0, 'seen');

  const to = path.join(dir, 'back');
  const plain = await qrv(home, [
    'recover',
    'web',
    '--as-of',
    between,
    '--path',
    '/hello.txt',
    '--path',
    'etc',
    '--from',
    s2.id,
    '--path',
    '/new.txt',
    '--to',
    to,
    '--via',
    'debugfs',
  ]);
  t.equal(plain.exitCode, 0, plain.stderr);
  t.equal(await fs.readFile(path.join(to, 'hello.txt'), 'utf8'), 'hello\n');
  t.equal(await fs.readFile(path.join(to, 'etc/app.conf'), 'utf8'), 'x = 1\n', 'etc from the first source');
  t.equal(await fs.readFile(path.join(to, 'new.txt'), 'utf8'), 'new\n', 'new.txt from the second');
  const lines = plain.stdout.trim().split('\n');
  t.ok(lines.includes(`restored /hello.txt -> ${to}/hello.txt (6 bytes)`), plain.stdout);
  t.ok(lines.includes(`restored /etc -> ${to}/etc (folder)`));
  t.match(
    lines.at(-1),
    new RegExp(`^4 restored \\(16 bytes\\), 0 skipped, into ${to} from ${s1.id} \\(.*\\), ${s2.id} \\(.*\\)$`),
  );
  t.ok(
    lines.some((l) => /^recover: restore files from s-\w+: 3 restored, read by debugfs/.test(l)),
    'a step line per source',
  );

  // Again: everything exists now; --json, last line the summary; exit 11 (partial).
  const json = await qrvJson(home, [
    'recover',
    'web',
    '--from',
    s1.id,
    '--path',
    '/hello.txt',
    '--path',
    '/nope',
    '--to',
    to,
    '--via',
    'debugfs',
  ]);
  t.equal(json.run.exitCode, 11, json.run.stderr);
  t.match(json.summary, {
    message_type: 'summary',
    restored: [],
    skipped: [
      { path: '/hello.txt', reason: 'exists in the target as a file (--force replaces it)' },
      { path: '/nope', reason: `/nope is not in ${s1.id} (no "nope" in /)` },
    ],
    sources: [{ id: s1.id, pointInTime: s1.createdAt }],
  });
  t.ok(
    json.lines.some((l) => l.message_type === 'progress'),
    'progress events in JSON',
  );
  const forced = await qrvJson(home, [
    'recover',
    'web',
    '--from',
    s1.id,
    '--path',
    '/hello.txt',
    '--to',
    to,
    '--force',
    '--via',
    'debugfs',
  ]);
  t.equal(forced.run.exitCode, 0, forced.run.stderr);
  t.match(forced.summary.restored, [{ path: '/hello.txt', to: path.join(to, 'hello.txt'), type: 'file', bytes: 6 }]);

  // Usage and refusals: one line each.
  const early = await qrv(home, ['recover', 'web', '--path', '/a', '--from', s1.id, '--to', to]);
  t.equal(early.exitCode, 2);
  t.match(
    early.stderr,
    /^qrv: --path \/a comes before any --from: each --path belongs to the --from \(or --as-of\) before it \(e\.g\. .*\)$/,
  );
  const unmounted = await qrv(home, ['recover', 'web', '--from', s1.id, '--path', '/hello.txt']);
  t.equal(unmounted.exitCode, 4);
  t.match(
    unmounted.stderr,
    /^qrv: web \(.*web\.img\) is not mounted, and files go back into its mounted filesystem \(mount it, or give --to DIR to restore the files into a folder\)$/,
  );
  // Without --path, --as-of is volume-level recovery from the copy it chooses: --to is then an
  // image, and the folder the files went to is refused.
  const asOfAlone = await qrv(home, ['recover', 'web', '--as-of', 'now', '--to', to]);
  t.equal(asOfAlone.exitCode, 4, 'volume-level recovery --as-of: the folder is not an image');
  t.match(asOfAlone.stderr, new RegExp(`^qrv: ${to} exists; recovery would overwrite it`));
});

t.test(
  'as an ordinary user: debugfs, owners kept',
  { skip: root ? false : 'needs root to become nobody' },
  async (t) => {
    const { dir, home: rootHome, between } = await scene(t);
    const home = await nobodyHome(dir, rootHome);
    const to = path.join(dir, 'nobody-back');
    await fs.mkdir(to);
    await fs.chown(to, 65534, 65534);
    const run = await qrv(
      home,
      ['--json', 'recover', 'web', '--as-of', between, '--path', '/hello.txt', '--path', '/data', '--to', to],
      {},
      NOBODY,
    );
    t.equal(run.exitCode, 0, run.stderr);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
    t.match(summary, { owners: 'kept', skipped: [] });
    t.same(
      summary.restored.map((r: { path: string }) => r.path),
      ['/hello.txt', '/data', '/data/a.bin'],
    );
    const st = await fs.stat(path.join(to, 'data/a.bin'));
    t.equal(st.uid, 65534, 'the files belong to the user who restored them');
    t.equal(st.size, 100_000);
    t.same(await fs.readFile(path.join(to, 'data/a.bin')), Buffer.alloc(100_000, 1));
  },
);

t.test(
  'root: back into the mounted volume, at the original place',
  { skip: root ? false : 'mounting needs root' },
  async (t) => {
    const { dir, home, image, s1 } = await scene(t);
    const mnt = path.join(dir, 'mnt');
    await fs.mkdir(mnt);
    await execa('mount', ['-o', 'loop', image, mnt]);
    t.teardown(() => execa('umount', [mnt]).catch(() => undefined));
    const run = await qrv(home, ['recover', 'web', '--from', s1.id, '--path', '/hello.txt', '--path', '/etc/app.conf']);
    t.equal(run.exitCode, 0, run.stderr);
    t.equal(await fs.readFile(path.join(mnt, 'hello.txt'), 'utf8'), 'hello\n');
    t.equal(await fs.readFile(path.join(mnt, 'etc/app.conf'), 'utf8'), 'x = 1\n');
    t.equal(await fs.readFile(path.join(mnt, 'new.txt'), 'utf8'), 'new\n', 'what is there stays');
    t.match(
      run.stdout.trim().split('\n').at(-1),
      new RegExp(`^2 restored \\(12 bytes\\), 0 skipped, into ${mnt} from ${s1.id}`),
    );
  },
);
