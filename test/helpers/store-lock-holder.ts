// A second qrv process for the store lock tests: opens the folder store ROOT and takes a KIND lock
// for COMMAND. Prints one JSON line: {"held": id, "pid": pid, "ignored": n} or {"code", "message"}
// (then exits 1). With "go" it first prints "ready" and waits for a line on stdin, so that two
// holders start together; with "hold" it keeps the lock until stdin gives a line (or ends), then
// releases it and prints "released".
import readline from 'node:readline';
import { acquireStoreLock, type StoreLockKind } from '../../src/archive/store-lock.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';

const [root, kind, command, ...flags] = process.argv.slice(2);
if (!root || !kind || !command) throw new Error('usage: store-lock-holder.ts ROOT KIND COMMAND [go] [hold]');
const lines = readline.createInterface({ input: process.stdin });
const nextLine = (): Promise<void> =>
  new Promise((resolve) => {
    lines.once('line', () => resolve());
    lines.once('close', () => resolve());
  });

const store = await openDirStore(root);
if (flags.includes('go')) {
  process.stdout.write('ready\n');
  await nextLine();
}
try {
  const lock = await acquireStoreLock(store, kind as StoreLockKind, { command, settleMs: 100 });
  process.stdout.write(`${JSON.stringify({ held: lock.id, pid: process.pid, ignored: lock.ignored.length })}\n`);
  if (flags.includes('hold')) await nextLine();
  await lock.release();
  if (flags.includes('hold')) process.stdout.write('released\n');
} catch (error) {
  const e = error as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ code: e.code, message: e.message })}\n`);
  process.exitCode = 1;
}
lines.close();
await store.close();
