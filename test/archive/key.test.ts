// The key file of an encrypted archive, as root, against what an unprivileged user (nobody) can
// put where the key should be: a link, a file of its own, a FIFO that would hold qrv forever.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { loadKey } from '../../src/archive/key.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir } from '../helpers/tmp.ts';

const NOBODY = ['runuser', '-u', 'nobody', '--'];

t.test('a private file of 32 bytes or more is a key; short, readable by others or a link is not', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'qrv.key');
  await fs.writeFile(file, Buffer.alloc(64, 7), { mode: 0o600 });
  t.equal((await loadKey(file)).id.length, 8);
  await fs.chmod(file, 0o644);
  await t.rejects(loadKey(file), { code: 'archive-key', message: /others can read it \(mode 644\)/ });
  await fs.chmod(file, 0o600);
  await fs.symlink(file, path.join(dir, 'link'));
  await t.rejects(loadKey(path.join(dir, 'link')), { code: 'archive-key', message: /symbolic link/ });
  await fs.writeFile(path.join(dir, 'short'), Buffer.alloc(31, 7), { mode: 0o600 });
  await t.rejects(loadKey(path.join(dir, 'short')), { code: 'archive-key', message: /31 bytes, fewer than 32/ });
});

t.test("what nobody puts where root's key should be is refused at once", async (t) => {
  if (!lane(t, 'unprivileged user', { root: true, tools: ['runuser', 'mkfifo'] })) return;
  const dir = await tmpDir(t);
  await fs.chmod(dir, 0o1777);
  const theirs = path.join(dir, 'nobody');
  await execa(NOBODY[0]!, [...NOBODY.slice(1), 'mkdir', theirs]);
  const fifo = path.join(theirs, 'fifo.key');
  await execa(NOBODY[0]!, [...NOBODY.slice(1), 'mkfifo', '-m', '600', fifo]);
  // were qrv blocked in open(), a writer lets it go, so that a failing test still ends
  t.teardown(async () => (await fs.open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => null))?.close());
  const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000).unref());
  const refused = loadKey(fifo).then(
    () => 'loaded',
    (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
  );
  t.match(await Promise.race([refused, timeout]), /^archive-key: .*it is not a regular file/, 'a FIFO');
  const file = path.join(theirs, 'own.key');
  await execa(NOBODY[0]!, [...NOBODY.slice(1), 'sh', '-c', `head -c 64 /dev/urandom > ${file}; chmod 600 ${file}`]);
  await t.rejects(loadKey(file), { code: 'archive-key', message: /owned by uid 65534/ }, "nobody's own file");
  await execa(NOBODY[0]!, [...NOBODY.slice(1), 'ln', '-s', '/etc/shadow', path.join(theirs, 'link.key')]);
  await t.rejects(loadKey(path.join(theirs, 'link.key')), { code: 'archive-key', message: /symbolic link/ }, 'a link');
});
