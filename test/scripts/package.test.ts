// `npm run package` (scripts/package.mjs): dist/qrv, the single executable. Built here into a
// folder of the test's own, then copied alone into an empty folder and run with `env -i` and a
// PATH that has every tool of this machine but node: the demo, --version, a JSON run whose copy
// is the volume byte for byte, and `qrv browse` drawn in tmux — as root through a read-only
// mount, whose guard is the executable itself: killed with SIGKILL, the guard unmounts.
import t from 'tap';
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
import { tmpDir } from '../helpers/tmp.ts';

const OUT = path.join(ROOT, '.tap', 'package-test');

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
  await fs.rm(OUT, { recursive: true, force: true });
  t.teardown(() => fs.rm(OUT, { recursive: true, force: true }));
  await execa(process.execPath, ['scripts/package.mjs'], { cwd: ROOT, env: { QRV_PACKAGE_OUTDIR: OUT } });
  t.same(await fs.readdir(OUT), ['qrv'], 'one file is built, nothing beside it');

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
  t.equal(await fs.readdir(alone).then((names) => names.join()), 'qrv', 'it wrote nothing beside itself');
});

t.test('qrv browse from the single executable in tmux; its guard unmounts when it is killed', async (t) => {
  if (!lane(t, 'single-executable browse', { root: true, tools: ['tmux', 'mkfs.ext4', 'debugfs'] })) return;
  const exe = path.join(OUT, 'qrv');
  if (!(await fs.stat(exe).catch(() => null)))
    await execa(process.execPath, ['scripts/package.mjs'], { cwd: ROOT, env: { QRV_PACKAGE_OUTDIR: OUT } });
  t.teardown(() => fs.rm(OUT, { recursive: true, force: true }));
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
