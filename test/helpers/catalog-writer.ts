// A second qrv process for the catalog tests: opens the catalog in <home> and makes <count>
// update() calls, each pushing the volume row "<prefix>-<i>". With "go" as the fourth argument it
// prints "ready" and waits for a line on stdin first, so that two writers start together.
// Prints "done" on success; on failure prints the error as one JSON line and exits 1.
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Catalog } from '../../src/catalog/store.ts';

const [home, prefix, countText, go] = process.argv.slice(2);
if (!home || !prefix || !countText) throw new Error('usage: catalog-writer.ts HOME PREFIX COUNT [go]');

try {
  const catalog = await Catalog.open(home);
  if (go === 'go') {
    process.stdout.write('ready\n');
    const lines = readline.createInterface({ input: process.stdin });
    await new Promise<void>((resolve) => lines.once('line', () => resolve()));
    lines.close();
  }
  for (let i = 0; i < Number(countText); i += 1) {
    await catalog.update(async (data) => {
      // Widen the read-modify-write window, so that an unlocked update would lose rows.
      await sleep(2);
      data.volumes.push({
        name: `${prefix}-${i}`,
        provider: 'file',
        path: `/dev/null/${prefix}-${i}`,
        options: {},
        sizeBytes: i,
        addedAt: new Date().toISOString(),
        policy: null,
        discovered: false,
      });
    });
  }
  process.stdout.write('done\n');
} catch (error) {
  const e = error as { name?: string; exit?: string; code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ name: e.name, exit: e.exit, code: e.code, message: e.message })}\n`);
  process.exitCode = 1;
}
