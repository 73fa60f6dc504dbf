// The whole program once in a real terminal: tmux runs `qrv demo` with a TERM, and the screen
// must show Ink's view (marks, no raw escape codes) and the result.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BIN } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';

t.test('qrv demo in a real terminal (tmux)', async (t) => {
  if (!lane(t, 'tmux terminal', { tools: ['tmux', 'mkfs.ext4'] })) return;
  const session = `qrv-test-${process.pid}`;
  const socket = ['-L', session];
  t.teardown(() => execa('tmux', [...socket, 'kill-server'], { reject: false }));
  await execa('tmux', [...socket, 'new-session', '-d', '-s', session, '-x', '120', '-y', '50', `env TERM=xterm-256color CI= node ${BIN} demo; echo "EXIT=$?"; sleep 60`]);
  let screen = '';
  for (let waited = 0; waited < 120_000 && !/EXIT=\d+/.test(screen); waited += 500) {
    await sleep(500);
    screen = (await execa('tmux', [...socket, 'capture-pane', '-p', '-t', session])).stdout;
  }
  t.match(screen, /EXIT=0/, `the demo passed:\n${screen}`);
  t.match(screen, /✓ snapshot: take snapshot: s-[0-9a-f]{8} by /, 'Ink marks finished steps');
  t.match(screen, /✓ verify: compare checksums/);
  t.match(screen, /demo passed/);
  t.notMatch(screen, /\x1b|\[\d+[A-Z]/, 'no raw escape codes on the screen');
});
