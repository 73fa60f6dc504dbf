// `npm run package` (scripts/package.mjs): dist/qrv, the single executable. Built here into a
// folder of the test's own, then copied alone into an empty folder and run with `env -i` and a
// PATH that has every tool of this machine but node: the demo, --version, a JSON run whose copy
// is the volume byte for byte, and `qrv browse` drawn in tmux — as root through a read-only
// mount, whose guard is the executable itself: killed with SIGKILL, the guard unmounts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.ts';
import { OWN_TMPDIR, browseMounts } from '../helpers/browse-tree.ts';
import { browseScene } from '../helpers/browse-scene.ts';
import { lane } from '../helpers/lanes.ts';
import { inTmux } from '../helpers/tmux.ts';
import { randomImage } from '../helpers/block-images.ts';
import { startS3 } from '../helpers/s3-server.ts';
import { tmpDir } from '../helpers/tmp.ts';

const OUT = path.join(ROOT, '.tap', 'package-test');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = path.join(OUT, `qrv_${VERSION}_amd64.deb`);

let built: Promise<unknown> | undefined;
/** npm run package into OUT, once for the whole file. */
function packaged(): Promise<unknown> {
  built ??= fs
    .rm(OUT, { recursive: true, force: true })
    .then(() => execa(process.execPath, ['scripts/package.mjs'], { cwd: ROOT, env: { QRV_PACKAGE_OUTDIR: OUT } }));
  return built;
}
t.teardown(() => fs.rm(OUT, { recursive: true, force: true }));

/** A folder of links to every program on this PATH except node: a machine without Node. */
async function pathWithoutNode(dir: string): Promise<string> {
  const tools = path.join(dir, 'bin');
  await fs.mkdir(tools);
  for (const folder of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const names = await fs.readdir(folder).catch(() => [] as string[]);
    for (const name of names) {
      if (/^node(js)?$/.test(name)) continue;
      await fs.symlink(path.join(folder, name), path.join(tools, name)).catch(() => undefined);
    }
  }
  return tools;
}

t.test('the single executable, alone on a machine without node', async (t) => {
  await packaged();
  t.same((await fs.readdir(OUT)).sort(), ['qrv', path.basename(DEB)], 'the executable and the package, nothing else');

  const dir = await tmpDir(t, 'qrv-alone-');
  await fs.chmod(dir, 0o755);
  const alone = path.join(dir, 'empty');
  await fs.mkdir(alone);
  const exe = path.join(alone, 'qrv');
  await fs.copyFile(path.join(OUT, 'qrv'), exe);
  await fs.chmod(exe, 0o755);
  const PATH = await pathWithoutNode(dir);
  const env = ['env', '-i', `PATH=${PATH}`, `TMPDIR=${OWN_TMPDIR}`];
  const run = (args: string[]) =>
    execa(env[0] as string, [...env.slice(1), exe, ...args], { reject: false, cwd: alone, stdin: 'ignore' });

  const noNode = await execa('env', ['-i', `PATH=${PATH}`, 'sh', '-c', 'command -v node'], { reject: false });
  t.not(noNode.exitCode, 0, 'there is no node on that PATH');

  const version = await run(['--version']);
  t.equal(version.exitCode, 0, version.stderr);
  const { version: packageVersion } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8'));
  t.match(version.stdout, new RegExp(`^${packageVersion.replace(/\./g, '\\.')} \\([0-9a-f]{12}(-modified)?\\)$`));

  const demo = await run(['demo']);
  t.equal(demo.exitCode, 0, demo.exitCode === 0 ? 'the demo exits 0' : `${demo.stdout}\n${demo.stderr}`);
  t.match(demo.stdout, /demo passed/);

  const home = path.join(dir, 'home');
  const image = path.join(dir, 'vol.img');
  const content = await randomImage(image, 4 * 1024 * 1024);
  t.equal((await run(['--home', home, 'volume', 'add', 'vol', '--provider', 'file', '--path', image])).exitCode, 0);
  const dest = path.join(dir, 'vol.qrv.img');
  const json = await run(['--home', home, '--json', 'run', 'vol', '--to', dest]);
  t.equal(json.exitCode, 0, json.stderr);
  const lines = json.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.ok(lines.length > 3, 'one JSON object per line');
  t.equal(lines.at(-1)?.message_type, 'summary');
  t.ok((await fs.readFile(dest)).equals(content), 'the QRV is the volume, byte for byte');

  // the AWS SDK is an asset of the executable, compiled when first used (scripts/sea-parts.mjs)
  const s3 = await startS3(t);
  const keys = ['AWS_ACCESS_KEY_ID=S3RVER', 'AWS_SECRET_ACCESS_KEY=S3RVER'];
  const add = ['--home', home, '--json', 'store', 'add', 'b', '--s3', `s3://${s3.bucket}`, '--endpoint', s3.endpoint];
  const store = await execa(env[0] as string, [...env.slice(1), ...keys, exe, ...add], {
    reject: false,
    cwd: alone,
    stdin: 'ignore',
  });
  t.equal(store.exitCode, 0, store.stderr);
  t.match(JSON.parse(store.stdout.trim().split('\n').at(-1) ?? '{}'), { store: { kind: 's3' } }, 'an S3 store');
  t.equal(await fs.readdir(alone).then((names) => names.join()), 'qrv', 'it wrote nothing beside itself');
});

t.test('qrv browse from the single executable in tmux; its guard unmounts when it is killed', async (t) => {
  if (!lane(t, 'single-executable browse', { root: true, tools: ['tmux', 'mkfs.ext4', 'debugfs'] })) return;
  const exe = path.join(OUT, 'qrv');
  await packaged();
  const scene = await browseScene(t);
  const PATH = await pathWithoutNode(scene.dir);
  const command = ['env', '-i', `PATH=${PATH}`, `TMPDIR=${OWN_TMPDIR}`, 'TERM=xterm-256color', exe];
  const term = await inTmux(t, [...command, '--home', scene.home, 'browse', 'web'].join(' '));
  let screen = await term.waitFor(`›${scene.s2.id}`);
  t.match(screen, /^qrv browse \S+ › default › web/);
  await term.keys('Enter');
  screen = await term.waitFor('data/');
  t.match(screen, /read by a read-only mount/);
  t.equal((await browseMounts()).length, 1, 'the copy is mounted while it is browsed');
  const pids = (await execa('pgrep', ['-f', `^${exe} --home ${scene.home} browse`])).stdout.split('\n').filter(Boolean);
  t.equal(pids.length, 1, 'one qrv browse');
  process.kill(Number(pids[0]), 'SIGKILL');
  await term.waitFor(/EXIT=\d+/);
  for (let waited = 0; (await browseMounts()).length && waited < 20_000; waited += 100) await sleep(100);
  t.same(await browseMounts(), [], 'the guard (the executable itself) unmounted the copy');
});

t.test('the Debian package: lintian, dpkg -i, man, completion, units, purge', async (t) => {
  if (!lane(t, 'Debian package', { root: true, tools: ['dpkg', 'lintian', 'man', 'systemd-analyze'] })) return;
  const before = await execa('dpkg-query', ['-W', '-f', '${Status}', 'qrv'], { reject: false });
  if (before.stdout.includes('installed')) {
    t.fail('the package qrv is installed on this machine: this test installs and purges it; remove it first');
    return;
  }
  if (await fs.stat('/var/lib/qrv').catch(() => null)) {
    // root's default home: this test installs a package that owns it, and puts a catalog in it
    const why = 'Debian package lane: /var/lib/qrv exists here (a qrv home?); this test needs it absent';
    if (process.env.CI === 'true') t.fail(why);
    else t.skip(why, () => undefined);
    return;
  }
  await packaged();
  const lintian = await execa('lintian', ['--allow-root', DEB], { reject: false });
  t.same(
    lintian.stdout.split('\n').filter((line) => /^E: /.test(line)),
    [],
    `lintian finds no errors:\n${lintian.stdout}`,
  );
  t.teardown(() => execa('dpkg', ['--purge', 'qrv'], { reject: false }));

  const install = await execa('dpkg', ['-i', DEB], { reject: false });
  t.equal(install.exitCode, 0, install.stderr);
  t.equal((await execa('/usr/bin/qrv', ['--version'])).stdout.split(' ')[0], VERSION, '/usr/bin/qrv runs');
  const home = await fs.stat('/var/lib/qrv');
  t.equal(home.mode & 0o777, 0o700, 'the home /var/lib/qrv is 0700');
  const man = await execa('man', ['qrv'], { env: { MANWIDTH: '80', MAN_KEEP_FORMATTING: '' }, reject: false });
  t.equal(man.exitCode, 0, man.stderr);
  for (const part of ['NAME', 'SYNOPSIS', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES'])
    t.match(man.stdout, new RegExp(`^${part}$`, 'm'), `man qrv has ${part}`);
  t.match(man.stdout, /qrv snap \[options\] \[volume\.\.\.\]/, 'and every command, e.g. snap');
  t.match(man.stdout, /--max-freeze <duration>/, 'with its options');
  const completion = await execa('bash', [
    '-c',
    'source /usr/share/bash-completion/completions/qrv && COMP_WORDS=(qrv volume a) && COMP_CWORD=2 && _qrv && echo "${COMPREPLY[*]}"',
  ]);
  t.equal(completion.stdout, 'add activate', 'the bash completion loads and completes');
  for (const file of ['/usr/share/zsh/vendor-completions/_qrv', '/usr/share/fish/vendor_completions.d/qrv.fish'])
    t.ok((await fs.stat(file)).size > 1000, `${file} is installed`);
  const units = ['/lib/systemd/system/qrv-cron.service', '/lib/systemd/system/qrv-cron.timer'];
  const verify = await execa('systemd-analyze', ['verify', ...units], { reject: false });
  t.equal(verify.exitCode, 0, `systemd-analyze verify accepts the units: ${verify.stderr}`);
  t.match(await fs.readFile(units[0] as string, 'utf8'), /^ExecStart=\/usr\/bin\/qrv cron$/m);

  // A catalog in the home: purging keeps it and says so.
  const image = path.join(await tmpDir(t, 'qrv-deb-'), 'v.img');
  await fs.writeFile(image, Buffer.alloc(1024 * 1024));
  t.equal((await execa('/usr/bin/qrv', ['volume', 'add', 'v', '--path', image], { reject: false })).exitCode, 0);
  const purge = await execa('dpkg', ['--purge', 'qrv'], { reject: false });
  t.equal(purge.exitCode, 0, purge.stderr);
  t.match(purge.stderr, /\/var\/lib\/qrv holds the catalog and is kept/);
  t.ok(await fs.stat('/var/lib/qrv/catalog.json'), 'the catalog is still there');
  t.equal(await fs.stat('/usr/bin/qrv').catch(() => null), null, '/usr/bin/qrv is gone');
  await fs.rm('/var/lib/qrv', { recursive: true, force: true });

  // An empty home goes with the package.
  t.equal((await execa('dpkg', ['-i', DEB], { reject: false })).exitCode, 0);
  t.equal((await execa('dpkg', ['--purge', 'qrv'], { reject: false })).exitCode, 0);
  t.equal(await fs.stat('/var/lib/qrv').catch(() => null), null, 'purged: the empty home is removed');
});
