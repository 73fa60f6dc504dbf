// The whole `qrv browse` once in a real terminal (tmux, 80×24): find a deleted file by time (t),
// see it, recover it with r into a folder, quit with q; the file's bytes are back and nothing
// stays mounted. As root (a read-only mount) and as nobody (debugfs). Drawn also with CI=true.
// Not a terminal: refused.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, qrv } from '../helpers/cli.ts';
import { OWN_TMPDIR, browseMounts } from '../helpers/browse-tree.ts';
import { browseScene } from '../helpers/browse-scene.ts';
import { lane } from '../helpers/lanes.ts';
import { nobodyHome } from '../helpers/nobody.ts';
import { inTmux } from '../helpers/tmux.ts';

const root = process.getuid?.() === 0;
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

t.test('qrv browse in a real terminal: t, see, r, q', async (t) => {
  if (!lane(t, 'tmux terminal', { tools: ['tmux', 'mkfs.ext4', 'debugfs'] })) return;
  const scene = await browseScene(t);
  const users = root
    ? [
        { name: 'root', wrapper: [] as string[] },
        { name: 'nobody', wrapper: NOBODY },
      ]
    : [{ name: 'this user', wrapper: [] as string[] }];
  for (const user of users) {
    await t.test(`as ${user.name}`, async (t) => {
      // nobody reads the images and changes a catalog of its own (the recovery is a job).
      const home = user.wrapper.length ? await nobodyHome(scene.dir, scene.home) : scene.home;
      const to = path.join(scene.dir, `back-${user.name.replace(/\s/g, '-')}`);
      await fs.mkdir(to);
      if (user.wrapper.length) await fs.chown(to, 65534, 65534);
      const command = [
        ...user.wrapper,
        'env',
        '-u',
        'CI',
        '-u',
        'NODE_OPTIONS',
        'TERM=xterm-256color',
        process.execPath,
        BIN,
        '--home',
        home,
        'browse',
        'web',
      ].join(' ');
      const term = await inTmux(t, command);
      let screen = await term.waitFor(`›${scene.s2.id}`);
      t.match(screen, /^qrv browse \S+ › default › web/);
      await term.keys('t');
      await term.type(scene.between);
      await term.keys('Enter');
      screen = await term.waitFor(`›${scene.s1.id}`);
      t.match(screen, new RegExp(`web as of .*: ${scene.s1.id}, a snapshot`));
      await term.keys('Enter');
      screen = await term.waitFor('hello.txt');
      t.match(screen, new RegExp(`read by ${user.wrapper.length || !root ? 'debugfs' : 'a read-only mount'}`));
      if (!user.wrapper.length && root)
        t.equal((await browseMounts()).length, 1, 'the copy is mounted while it is browsed');
      await term.keys('Down', 'Down');
      screen = await term.waitFor('›hello.txt');
      t.match(screen, /size\s+6 B/);
      if (user.name === 'root') await fs.writeFile(path.join(scene.dir, 'screen-80x24.txt'), screen);
      t.ok(
        screen.split('\n').every((line) => [...line].length <= 80),
        'fits 80 columns',
      );
      await term.keys('r');
      await term.waitFor('into folder');
      await term.type(to);
      await term.keys('Enter');
      screen = await term.waitFor('any key: back');
      t.match(screen, /1 restored \(6 bytes\), 0 skipped/);
      await term.keys('Escape', 'q');
      screen = await term.waitFor(/EXIT=\d+/);
      t.match(screen, /EXIT=0/, screen);
      t.equal(
        await fs.readFile(path.join(to, 'hello.txt'), 'utf8'),
        'hello\n',
        'the deleted file is back, byte for byte',
      );
      if (user.wrapper.length)
        t.equal((await fs.stat(path.join(to, 'hello.txt'))).uid, 65534, 'not as root: it belongs to the user');
      t.same(await browseMounts(), [], 'nothing stays mounted');
      if (root)
        t.equal(
          (await execa('findmnt', ['-rn', '-o', 'TARGET'])).stdout
            .split('\n')
            .filter((l) => l.startsWith(path.join(OWN_TMPDIR, 'qrv-browse-'))).length,
          0,
          'findmnt agrees',
        );
    });
  }

  await t.test(
    'killed with SIGTERM inside a copy: unmounted, exit 130',
    { skip: !root && 'needs root (a mount)' },
    async (t) => {
      const term = await inTmux(
        t,
        ['env', '-u', 'CI', 'TERM=xterm-256color', process.execPath, BIN, '--home', scene.home, 'browse', 'web'].join(
          ' ',
        ),
      );
      await term.waitFor(`›${scene.s2.id}`);
      await term.keys('Enter');
      await term.waitFor('data/');
      t.equal((await browseMounts()).length, 1);
      const pids = (await execa('pgrep', ['-f', `^${process.execPath} ${BIN} --home ${scene.home} browse`])).stdout
        .split('\n')
        .filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGTERM');
      const screen = await term.waitFor(/EXIT=\d+/);
      t.match(screen, /qrv: interrupted by SIGTERM; nothing is left mounted/);
      t.match(screen, /EXIT=130/);
      t.same(await browseMounts(), []);
    },
  );

  await t.test(
    '--as-of: starts at the copy it chooses, said on the status line; refusals before drawing',
    async (t) => {
      const browse = ['env', '-u', 'CI', 'TERM=xterm-256color', process.execPath, BIN, '--home', scene.home, 'browse'];
      const term = await inTmux(t, [...browse, 'web', '--as-of', scene.between].join(' '));
      const screen = await term.waitFor(`›${scene.s1.id}`);
      t.match(screen, new RegExp(`web as of .*: ${scene.s1.id}, a snapshot`), 'the choice, on the status line');
      await term.keys('q');
      t.match(await term.waitFor(/EXIT=\d+/), /EXIT=0/, 'q quits');
      // what a command printed before it ended, its lines unwrapped (80 columns)
      const ended = async (args: string[]) => {
        const screen = await (await inTmux(t, [...browse, ...args].join(' '))).waitFor(/EXIT=\d+/);
        return screen.split('\n').join('').trim();
      };
      t.equal(
        await ended(['--as-of', 'now']),
        'qrv: --as-of needs a volume: qrv browse VOLUME --as-of TIME (or press t in the browser to jump to a time)EXIT=2',
      );
      t.equal(
        await ended(['nope', '--as-of', 'now']),
        'qrv: no volume named "nope" (known volumes: web)EXIT=3',
        'an unknown volume, before --as-of is read',
      );
      t.same(await browseMounts(), [], 'nothing mounted');
    },
  );

  await t.test(
    'in a terminal with CI=true: drawn all the same (Ink alone would draw nothing until it exits); redrawn at a new size',
    async (t) => {
      const term = await inTmux(
        t,
        ['env', 'CI=true', 'TERM=xterm-256color', process.execPath, BIN, '--home', scene.home, 'browse', 'web'].join(
          ' ',
        ),
      );
      let screen = await term.waitFor(`›${scene.s2.id}`);
      t.match(screen, /^qrv browse /m, 'the browser is on the screen while it runs');
      const widest = (s: string) => Math.max(...s.split('\n').map((line) => [...line].length));
      t.equal(widest(screen), 80, 'drawn 80 columns wide at 80×24');
      await term.resize(120, 30);
      screen = await term.waitFor(/^└─+┘└─{86}┘$/m);
      t.equal(widest(screen), 120, 'resized to 120×30: the panes span the new width');
      t.match(
        screen.split('\n')[28] ?? '',
        /^↑↓ move/,
        'and the key line is the 29th row, the last one the browser draws',
      );
      await term.keys('q');
      t.match(await term.waitFor(/EXIT=\d+/), /EXIT=0/, 'q quits');
    },
  );
});

t.test('not a terminal, or --json: refused with a hint to use qrv ls / qrv find', async (t) => {
  const scene = { home: path.join(await fs.mkdtemp('/tmp/qrv-browse-nt-'), 'home') };
  t.teardown(() => fs.rm(path.dirname(scene.home), { recursive: true, force: true }));
  const piped = await qrv(scene.home, ['browse']);
  t.equal(piped.exitCode, 2);
  t.match(
    piped.stderr,
    /^qrv: qrv browse needs a terminal, and stdin and stdout are not one \(.*`qrv ls ID\[:PATH\]`.*`qrv find ID PATTERN`\)$/,
  );
  const json = await qrv(scene.home, ['--json', 'browse']);
  t.equal(json.exitCode, 2);
  t.match(JSON.parse(json.stderr), { message_type: 'error', code: 'not-a-terminal', exitCode: 2, hint: /qrv ls/ });
  // a bad --via is said first, before anything is drawn (in a terminal it used to show only when a copy was opened)
  const via = await qrv(scene.home, ['browse', '--via', 'sideways']);
  t.equal(via.exitCode, 2);
  t.match(via.stderr, /^qrv: --via "sideways" is not a way to read \(use auto, debugfs/);
});
