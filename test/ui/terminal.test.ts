// The whole program once in a real terminal: tmux runs `qrv demo` with a TERM, and the screen
// must show Ink's view (marks, no raw escape codes) and the result.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BIN, qrv, qrvJson } from '../helpers/cli.ts';
import { ext4Image } from '../helpers/images.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** Runs `command` in a new tmux session of the given size and returns the screen once `done` shows. */
async function inTmux(t: Test, command: string, done: RegExp, size = ['120', '50']): Promise<string> {
  const session = `qrv-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const socket = ['-L', session];
  t.teardown(() => execa('tmux', [...socket, 'kill-server'], { reject: false }));
  await execa('tmux', [
    ...socket,
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    size[0] as string,
    '-y',
    size[1] as string,
    command,
  ]);
  let screen = '';
  for (let waited = 0; waited < 120_000 && !done.test(screen); waited += 500) {
    await sleep(500);
    screen = (await execa('tmux', [...socket, 'capture-pane', '-p', '-t', session])).stdout;
  }
  return screen;
}

t.test('qrv demo in a real terminal (tmux)', async (t) => {
  if (!lane(t, 'tmux terminal', { tools: ['tmux', 'mkfs.ext4'] })) return;
  const screen = await inTmux(
    t,
    `env -u CI -u CONTINUOUS_INTEGRATION TERM=xterm-256color node ${BIN} demo; echo "EXIT=$?"; sleep 60`,
    /EXIT=\d+/,
  );
  t.match(screen, /EXIT=0/, `the demo passed:\n${screen}`);
  t.match(screen, /✓ snapshot: take snapshot: s-[0-9a-f]{12} by /, 'Ink marks finished steps');
  t.match(screen, /✓ verify: compare checksums/);
  t.match(screen, /demo passed/);
  t.notMatch(screen, /\x1b|\[\d+[A-Z]/, 'no raw escape codes on the screen');
});

t.test(
  'a terminal in CI (CI=true): plain lines as they happen, not Ink (which would draw only at the end)',
  async (t) => {
    if (!lane(t, 'tmux terminal', { tools: ['tmux', 'mkfs.ext4'] })) return;
    const screen = await inTmux(
      t,
      `env TERM=xterm-256color CI=true node ${BIN} demo; echo "EXIT=$?"; sleep 60`,
      /EXIT=\d+/,
    );
    t.match(screen, /EXIT=0/, `the demo passed:\n${screen}`);
    t.match(screen, /^snapshot: take snapshot: s-[0-9a-f]{12} by /m, "the plain printer's lines");
    t.notMatch(screen, /✓/, 'no Ink marks');
    t.match(screen, /demo passed/);
  },
);

t.test(
  'file-level recovery and promote in a real terminal: Ink marks each step, and the summary follows',
  async (t) => {
    if (!lane(t, 'tmux terminal', { tools: ['tmux', 'mkfs.ext4'] })) return;
    const dir = await fs.realpath(await tmpDir(t));
    const home = path.join(dir, 'home');
    const image = await ext4Image(dir, 'web', 16, { 'hello.txt': 'hello\n' });
    t.equal((await qrv(home, ['volume', 'add', 'web', '--path', image])).exitCode, 0);
    const ran = (await qrvJson(home, ['run', 'web', '--to', path.join(dir, 'web.qrv.img')])).summary;
    const out = path.join(dir, 'out');
    const q = ran.qrv.id as string;
    const screen = await inTmux(
      t,
      `env -u CI -u CONTINUOUS_INTEGRATION TERM=xterm-256color sh -c 'node ${BIN} --home ${home} recover web --from ${q} --path /hello.txt --to ${out}; echo "EXIT1=$?"; node ${BIN} --home ${home} promote ${q} --force; echo "EXIT2=$?"; sleep 60'`,
      /EXIT2=\d+/,
    );
    t.match(screen, /EXIT1=0/, `recover --path passed:\n${screen}`);
    t.match(screen, new RegExp(`✓ recover: restore files from ${q}`), 'Ink marks the restore step');
    t.match(
      screen,
      /restored \/hello.txt -> .*1 restored \(6 bytes\), 0 skipped/s,
      'the summary says what was restored',
    );
    t.match(screen, /EXIT2=0/, 'promote passed');
    t.match(screen, /✓ promote: check QRV/);
    t.match(screen, /✓ promote: switch primary/);
    t.match(screen, new RegExp(`promoted QRV ${q}: volume web is now`), 'and its summary');
    t.notMatch(screen, /\x1b|\[\d+[A-Z]/, 'no raw escape codes on the screen');
    t.equal(await fs.readFile(path.join(out, 'hello.txt'), 'utf8'), 'hello\n');
  },
);
