// Where the catalog lives: --home, then QRV_HOME, then /var/lib/qrv for root or the XDG data
// folder for everyone else. The branch that does not match this process's user runs in a child
// process under another user when we are root. Then whether the home can be trusted: the real
// bin/qrv as root against homes an unprivileged user (nobody, via runuser) could change, and
// qrv as nobody against homes of others.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { prepareHome, resolveHome } from '../../src/catalog/home.ts';
import { lockWaitMs } from '../../src/catalog/lock.ts';
import { Catalog } from '../../src/catalog/store.ts';
import { qrv, ROOT, type QrvRun } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

// Real qrv processes: seconds each on a quiet machine, much more when the machine is shared.
t.setTimeout(600_000);
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

type Case = [string | null, Record<string, string>];

/** resolveHome's answers for the cases, computed by a process running as `nobody`. */
async function asNobody(cases: Case[], home: string): Promise<string[]> {
  const result = await execa(
    'node',
    ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'print-home.ts'), JSON.stringify(cases)],
    {
      cwd: ROOT,
      uid: NOBODY,
      gid: NOBODY,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
      extendEnv: false,
    },
  );
  const out = JSON.parse(result.stdout) as { uid: number; homes: string[] };
  if (out.uid !== NOBODY) throw new Error(`child ran as uid ${out.uid}`);
  return out.homes;
}

t.test('--home wins over QRV_HOME and XDG_DATA_HOME, and is made absolute', async (t) => {
  t.equal(resolveHome('/srv/qrv-flag', { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg' }), '/srv/qrv-flag');
  t.equal(
    resolveHome('rel/home', { QRV_HOME: '/srv/qrv-env' }),
    path.resolve('rel/home'),
    'a relative flag is resolved against the cwd',
  );
  t.equal(resolveHome('/srv/a/../b/', {}), '/srv/b', 'normalised');
});

t.test('QRV_HOME is next, made absolute', async (t) => {
  t.equal(resolveHome(undefined, { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg' }), '/srv/qrv-env');
  t.equal(resolveHome('', { QRV_HOME: '/srv/qrv-env' }), '/srv/qrv-env', 'an empty flag does not count');
  t.equal(resolveHome(undefined, { QRV_HOME: 'rel' }), path.resolve('rel'));
});

t.test('root without flag or QRV_HOME uses /var/lib/qrv', { skip: isRoot ? false : 'needs root' }, async (t) => {
  t.equal(resolveHome(undefined, {}), '/var/lib/qrv');
  t.equal(resolveHome(undefined, { XDG_DATA_HOME: '/xdg' }), '/var/lib/qrv', 'XDG_DATA_HOME is not used for root');
  t.equal(resolveHome(undefined, { QRV_HOME: '' }), '/var/lib/qrv', 'an empty QRV_HOME does not count');
});

t.test('a user other than root uses XDG_DATA_HOME/qrv, else ~/.local/share/qrv', async (t) => {
  const cases: Case[] = [
    [null, { XDG_DATA_HOME: '/xdg/data' }],
    [null, { XDG_DATA_HOME: 'relative/data' }],
    [null, {}],
    [null, { QRV_HOME: '/srv/qrv-env', XDG_DATA_HOME: '/xdg/data' }],
    ['/srv/qrv-flag', { XDG_DATA_HOME: '/xdg/data' }],
  ];
  const userHome = isRoot ? '/home/tester' : os.homedir();
  const homes = isRoot
    ? await asNobody(cases, userHome)
    : cases.map(([flag, env]) => resolveHome(flag ?? undefined, env));
  const expected = [
    '/xdg/data/qrv',
    `${userHome}/.local/share/qrv`,
    `${userHome}/.local/share/qrv`,
    '/srv/qrv-env',
    '/srv/qrv-flag',
  ];
  t.equal(homes[0], expected[0], 'XDG_DATA_HOME when absolute');
  t.equal(homes[1], expected[1], 'a relative XDG_DATA_HOME is ignored (XDG spec)');
  t.equal(homes[2], expected[2], 'the home folder when XDG_DATA_HOME is unset');
  t.equal(homes[3], expected[3], 'QRV_HOME still wins');
  t.equal(homes[4], expected[4], '--home still wins');
});

// Without tap's NODE_OPTIONS, whose loaders write into the worktree, which nobody cannot.
const AS_NOBODY = ['runuser', '-u', 'nobody', '--', 'env', '-u', 'NODE_OPTIONS'];
const needsRoot = { skip: isRoot ? false : 'needs root (runs qrv as root and as nobody)' };

/** A test folder that nobody can enter but not write (tmpDir makes 0700 ones). */
async function openDir(t: Test): Promise<string> {
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o755);
  return dir;
}

function oneLine(t: Test, run: QrvRun, exitCode: number, pattern: RegExp): void {
  t.equal(run.exitCode, exitCode, `exit ${exitCode}: ${run.stderr}`);
  t.equal(run.stderr.trim().split('\n').length, 1, 'one line on stderr');
  t.match(run.stderr, pattern);
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** A home where root's qrv cron would snapshot volume v (a 1 MiB file) under policy p now. */
async function cronHome(t: Test, dir: string, home: string): Promise<void> {
  const image = path.join(dir, 'v.img');
  await fs.writeFile(image, '');
  await fs.truncate(image, 1 << 20);
  for (const args of [
    ['volume', 'add', 'v', '--path', image],
    ['policy', 'add', 'p', '--schedule', '* * * * * *'],
    ['volume', 'set', 'v', '--policy', 'p'],
  ]) {
    const run = await qrv(home, args);
    t.equal(run.exitCode, 0, `qrv ${args.join(' ')}: ${run.stderr}`);
  }
}

t.test('a world-writable home: a catalog swapped in by nobody never runs its hook as root', needsRoot, async (t) => {
  const dir = await openDir(t);
  const home = path.join(dir, 'home');
  const pwned = path.join(dir, 'pwned');
  await cronHome(t, dir, home);
  await fs.chmod(home, 0o777);
  // nobody writes a catalog whose policy runs a command, and renames it over root's.
  const forged = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8'));
  forged.policies[0].hooks = { 'pre-snapshot': `id > ${pwned}` };
  const staged = path.join(dir, 'forged.json');
  await fs.writeFile(staged, JSON.stringify(forged), { mode: 0o644 });
  await execa(AS_NOBODY[0] as string, [...AS_NOBODY.slice(1), 'cp', staged, path.join(home, '.forged')]);
  await execa(AS_NOBODY[0] as string, [
    ...AS_NOBODY.slice(1),
    'mv',
    '-f',
    path.join(home, '.forged'),
    path.join(home, 'catalog.json'),
  ]);
  t.equal((await fs.stat(path.join(home, 'catalog.json'))).uid, 65534, "the catalog is now nobody's");

  const before = await fs.readFile(path.join(home, 'catalog.json'));
  const run = await qrv(home, ['cron']);
  oneLine(t, run, 5, /refusing the qrv home .*home: it is writable by group and others \(mode 0777\)/);
  t.match(run.stderr, /another user could change the catalog/);
  t.notOk(await exists(pwned), 'the hook never ran');
  t.same(await fs.readFile(path.join(home, 'catalog.json')), before, 'the catalog was left as it was');

  // The same home made private again (and the forged file taken back by root) is accepted.
  await fs.chmod(home, 0o700);
  oneLine(t, await qrv(home, ['list']), 5, /refusing .*catalog\.json: it is owned by uid 65534, not by root/);
  t.notOk(await exists(pwned), 'still nothing ran');
});

/** Asserts that `promise` is refused with this QrvError code and message. */
async function refusal(t: Test, promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(error, { name: 'QrvError', exit: 'catalog', code, message: pattern }, String(error));
}

t.test('a sticky 1777 home is refused as well, and so is a group-writable one', needsRoot, async (t) => {
  const dir = await openDir(t);
  for (const mode of [0o1777, 0o770, 0o707]) {
    const home = path.join(dir, `home-${mode.toString(8)}`);
    await fs.mkdir(home);
    await fs.chmod(home, mode);
    await refusal(
      t,
      Catalog.open(home),
      'home-unsafe',
      new RegExp(`refusing the qrv home .*: it is writable by .* \\(mode ${mode.toString(8).padStart(4, '0')}\\)`),
    );
    t.same(await fs.readdir(home), [], 'nothing was written in it');
  }
});

t.test('a home owned by another user is refused for root, and for nobody', needsRoot, async (t) => {
  const dir = await openDir(t);
  const home = path.join(dir, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  await fs.chown(home, 65534, 65534);
  await refusal(
    t,
    Catalog.open(home),
    'home-unsafe',
    /refusing the qrv home .*: it is owned by uid 65534, not by root/,
  );
  const daemons = path.join(dir, 'daemon-home');
  await fs.mkdir(daemons, { mode: 0o755 });
  await fs.chown(daemons, 1, 1);
  oneLine(
    t,
    await qrv(daemons, ['list'], {}, AS_NOBODY),
    5,
    /refusing the qrv home .*: it is owned by uid 1, not by uid 65534 \(this user\) or root/,
  );
});

t.test(
  'a parent folder that others can write without the sticky bit is refused; with it, accepted',
  needsRoot,
  async (t) => {
    const dir = await openDir(t);
    const open = path.join(dir, 'open');
    await fs.mkdir(open);
    await fs.chmod(open, 0o777);
    const home = path.join(open, 'home');
    await fs.mkdir(home, { mode: 0o700 });
    await refusal(
      t,
      Catalog.open(home),
      'home-unsafe',
      new RegExp(
        `its parent folder ${open} is not safe: it is writable by others without the sticky bit \\(mode 0777\\)`,
      ),
    );
    await refusal(
      t,
      Catalog.open(path.join(open, 'new', 'home')),
      'home-unsafe',
      /is not safe: it is writable by others without the sticky bit/,
    );
    t.notOk(await exists(path.join(open, 'new')), 'a home below it is not created');
    await fs.chmod(open, 0o1777);
    t.equal(await prepareHome(home, true), home, 'accepted under a sticky parent');
    const owned = path.join(dir, 'owned');
    await fs.mkdir(owned, { mode: 0o755 });
    await fs.chown(owned, 65534, 65534);
    await refusal(
      t,
      Catalog.open(path.join(owned, 'home')),
      'home-unsafe',
      /its parent folder .*owned is not safe: it is owned by uid 65534/,
    );
    // A symbolic link on the way is followed once; the real folders are what is checked and used.
    const link = path.join(dir, 'link');
    await fs.symlink(path.join(owned), link);
    await refusal(t, Catalog.open(path.join(link, 'home')), 'home-unsafe', /its parent folder .*owned is not safe/);
  },
);

t.test('a home nobody cannot write fails at once with one line; reading it still works', needsRoot, async (t) => {
  const dir = await openDir(t);
  const home = path.join(dir, 'home');
  await Catalog.open(home);
  await fs.chmod(home, 0o755);
  let started = Date.now();
  const list = await qrv(home, ['list'], {}, AS_NOBODY);
  const listMs = Date.now() - started;
  t.equal(list.exitCode, 0, `list as nobody: ${list.stderr}`);
  started = Date.now();
  const run = await qrv(home, ['policy', 'add', 'p'], {}, AS_NOBODY);
  const ms = Date.now() - started;
  oneLine(t, run, 5, /cannot write in the qrv home .*home: permission denied \(EACCES\)/);
  t.notMatch(run.stderr, /internal error/);
  // Relative to a read-only run of the same process, since the machine may be busy.
  t.ok(
    ms < 2 * listMs + 10_000,
    `at once (${ms} ms, a list took ${listMs} ms; it used to wait 15.6 s for the lock first)`,
  );
  t.same(await fs.readdir(home), [], 'nothing was written');
});

t.test('a home under /proc or /sys is refused at once', async (t) => {
  const started = Date.now();
  const run = await qrv('/proc/qrv-home', ['policy', 'add', 'p']);
  oneLine(
    t,
    run,
    5,
    /cannot use the qrv home \/proc\/qrv-home: \/proc is on proc, a kernel filesystem that holds no files/,
  );
  t.ok(Date.now() - started < 120_000, 'it ends (it used to spin for ever)');
  for (const home of ['/proc/self', '/proc/qrv/a/b', '/sys/kernel/qrv']) {
    await refusal(
      t,
      Catalog.open(home),
      'home-unusable',
      /is on (proc|sysfs), a kernel filesystem that holds no files/,
    );
  }
});

t.test('QRV_LOCK_WAIT_MS that is not a number of milliseconds is a usage error before anything is done', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  oneLine(
    t,
    await qrv(home, ['policy', 'add', 'p'], { QRV_LOCK_WAIT_MS: 'abc' }),
    2,
    /QRV_LOCK_WAIT_MS="abc" is not a number of milliseconds from 0 to 86400000/,
  );
  t.notOk(await exists(home), 'no home was even created');
  for (const value of ['-1', '1.5', ' 5', '99999999999', '86400001'])
    t.throws(() => lockWaitMs({ QRV_LOCK_WAIT_MS: value }), { code: 'bad-lock-wait', exit: 'usage' }, value);
  t.equal(lockWaitMs({}), 15_000, 'unset: 15 s');
  t.equal(lockWaitMs({ QRV_LOCK_WAIT_MS: '0' }), 0);
  t.equal(lockWaitMs({ QRV_LOCK_WAIT_MS: '86400000' }), 86_400_000);
});
