// For the guard test (readers.test.ts): opens a read-only mount of argv[2], says where, and waits
// to be killed. On SIGINT it exits at once without closing the reader, as qrv's own handler does.
// Run by tap without an image (it is under test/), it only says it is no test.
import { openReader } from '../../src/browse/open.ts';
import { MountReader } from '../../src/browse/mount-reader.ts';

const image = process.argv[2];
if (image === undefined) {
  process.stdout.write('1..0 # SKIP a helper that readers.test.ts runs, not a test\n');
} else {
  process.on('SIGINT', () => process.exit(130));
  const reader = await openReader(image, { label: 'held' });
  if (!(reader instanceof MountReader)) throw new Error('not a mount');
  process.stdout.write(`mounted ${reader.mountpoint}\n`);
  setInterval(() => undefined, 1 << 30);
}
