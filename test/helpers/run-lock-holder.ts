// Holds qrv's run lock `<name>.lock` of a home (as a running `qrv cron` does), prints "held",
// then stops itself with SIGSTOP: a holder that is alive but makes no progress, for the lock
// tests. Prints "busy" and exits 1 if another process holds it.
import { tryRunLock } from '../../src/catalog/lock.ts';

const [home, name] = process.argv.slice(2);
if (!home || !name) throw new Error('usage: run-lock-holder.ts HOME NAME');
const release = await tryRunLock(home, name);
if (!release) {
  process.stdout.write('busy\n');
  process.exit(1);
}
process.stdout.write('held\n');
process.kill(process.pid, 'SIGSTOP');
await release();
