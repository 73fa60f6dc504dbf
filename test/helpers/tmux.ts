// A command in a real terminal: a tmux session of its own (its own server socket), 80×24, that
// the test reads (capture-pane) and types into (send-keys); killed at the test's end.
import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export async function inTmux(t: Test, command: string) {
  const session = `qrv-browse-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const socket = ['-L', session];
  const tmux = (...args: string[]) => execa('tmux', [...socket, ...args]);
  t.teardown(async () => {
    await execa('tmux', [...socket, 'kill-server'], { reject: false });
  });
  await tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${command}; echo "EXIT=$?"; sleep 120`);
  const screen = async () => (await tmux('capture-pane', '-p', '-t', session)).stdout;
  const waitFor = async (pattern: RegExp | string, ms = 30_000): Promise<string> => {
    let last = '';
    for (let waited = 0; waited < ms; waited += 100) {
      last = await screen();
      if (typeof pattern === 'string' ? last.includes(pattern) : pattern.test(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${String(pattern)}; the screen:\n${last}`);
  };
  const keys = async (...names: string[]) => {
    for (const name of names) {
      await tmux('send-keys', '-t', session, name);
      await sleep(150);
    }
  };
  const type = async (text: string) => {
    await tmux('send-keys', '-t', session, '-l', text);
    await sleep(150);
  };
  const resize = (columns: number, rows: number) =>
    tmux('resize-window', '-t', session, '-x', String(columns), '-y', String(rows));
  return { screen, waitFor, keys, type, resize };
}
