import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { openDirStore } from '../../src/stores/dir-store.ts';
import { lane } from '../helpers/lanes.ts';
import { storeContract } from '../helpers/store-contract.ts';
import { tmpDir } from '../helpers/tmp.ts';

t.test('the folder store passes the store contract', async (t) => {
  const root = path.join(await tmpDir(t), 'archive');
  await fs.mkdir(root, { mode: 0o700 });
  storeContract(t, { open: () => openDirStore(root) });
});

t.test('what it writes is private: folders 0700, objects 0600', async (t) => {
  const root = path.join(await tmpDir(t), 'new', 'archive');
  const store = await openDirStore(root, true);
  await store.put('chunks/ab/abcd', Buffer.from('x'));
  await store.flush();
  await store.close();
  t.equal((await fs.stat(root)).mode & 0o777, 0o700, 'the store, made by create');
  t.equal((await fs.stat(path.join(root, 'chunks/ab'))).mode & 0o777, 0o700, 'a folder in it');
  t.equal((await fs.stat(path.join(root, 'chunks/ab/abcd'))).mode & 0o777, 0o600, 'an object');
});

t.test('a store that others can write, or a link, is refused; a missing one is not made unless asked', async (t) => {
  const dir = await tmpDir(t);
  const open = path.join(dir, 'open');
  await fs.mkdir(open);
  await fs.chmod(open, 0o777);
  await t.rejects(openDirStore(open), { code: 'store-unsafe', message: /writable by group and others \(mode 0777\)/ });
  await fs.symlink(open, path.join(dir, 'link'));
  await t.rejects(openDirStore(path.join(dir, 'link')), { code: 'store-unsafe', message: /symbolic link/ });
  await t.rejects(openDirStore(path.join(dir, 'missing')), { code: 'store-failed', message: /does not exist/ });
  await t.rejects(openDirStore('relative/path'), { code: 'bad-store' });
});

t.test('a listing while objects are removed lists what is there, and fails on none that went', async (t) => {
  const root = path.join(await tmpDir(t), 'archive');
  const store = await openDirStore(root, true);
  t.teardown(() => store.close());
  for (let round = 0; round < 10; round++) {
    const keys = Array.from({ length: 100 }, (_, i) => `locks/${round}-${i}`);
    await Promise.all(keys.map((key) => store.put(key, Buffer.from('x'))));
    const [listed] = await Promise.all([store.list('locks/'), Promise.all(keys.map((key) => store.remove(key)))]);
    t.ok(
      listed.every((o) => keys.includes(o.key) && o.size === 1),
      `round ${round}: ${listed.length} listed`,
    );
  }
});

t.test(
  'a store below a folder another user (nobody) can change is refused: it could be swapped for another',
  async (t) => {
    if (!lane(t, 'unprivileged user', { root: true, tools: ['runuser'] })) return;
    const dir = await tmpDir(t);
    await fs.chmod(dir, 0o1777);
    const nobody = (...args: string[]) => execa('runuser', ['-u', 'nobody', '--', ...args]);
    await nobody('mkdir', path.join(dir, 'prepared'));
    await t.rejects(openDirStore(path.join(dir, 'prepared', 'vault'), true), {
      code: 'store-unsafe',
      message: /the folder .*\/prepared above it is not safe: it is owned by uid 65534/,
    });
    await fs.mkdir(path.join(dir, 'elsewhere'), { mode: 0o700 });
    await nobody('ln', '-s', path.join(dir, 'elsewhere'), path.join(dir, 'link'));
    await t.rejects(openDirStore(path.join(dir, 'link', 'vault'), true), {
      code: 'store-unsafe',
      message: /the folder .*\/link above it is not safe: it is a symbolic link owned by uid 65534/,
    });
    await fs.mkdir(path.join(dir, 'target'), { mode: 0o700 });
    await nobody('ln', '-s', path.join(dir, 'target'), path.join(dir, 'later'));
    await t.rejects(openDirStore(path.join(dir, 'later', 'vault'), true), { code: 'store-unsafe' });
    t.same(await fs.readdir(path.join(dir, 'target')), [], 'nothing was made where the link leads');
    const safe = await openDirStore(path.join(dir, 'root-made', 'vault'), true);
    await safe.close();
    t.pass('a store in folders root made below the sticky one is fine');
  },
);

t.test(
  "what the server of a mounted store could put in it: a FIFO for an object, a length past the object's end",
  async (t) => {
    const root = path.join(await tmpDir(t), 'archive');
    const store = await openDirStore(root, true);
    t.teardown(() => store.close());
    await execa('mkfifo', ['-m', '600', path.join(root, 'pack')]);
    // were qrv blocked in open(), a writer lets it go, so that a failing test still ends
    t.teardown(async () =>
      (await fs.open(path.join(root, 'pack'), constants.O_WRONLY | constants.O_NONBLOCK).catch(() => null))?.close(),
    );
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000).unref());
    const outcome = (promise: Promise<unknown>) =>
      Promise.race([
        promise.then(
          () => 'read',
          (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
        ),
        timeout,
      ]);
    t.match(await outcome(store.get('pack', 1024)), /^store-failed: .*read pack.*not a regular file/, 'get');
    t.match(await outcome(store.getRange('pack', 0, 16)), /^store-failed: .*not a regular file/, 'getRange');
    await store.put('small', Buffer.from('0123456789'));
    t.same(
      await store.getRange('small', 4, 3 * 1024 * 1024 * 1024),
      Buffer.from('456789'),
      '3 GiB asked, what there is read',
    );
    t.same(await store.getRange('small', 20, 10), Buffer.alloc(0), 'past the end: nothing');
  },
);
