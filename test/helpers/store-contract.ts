// The one contract every archive store passes, written once and run against each kind on a real
// server (a folder, sshd, an S3-protocol server), as restic's backends share one test suite.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { ArchiveStore } from '../../src/stores/store.ts';

export interface StoreSubject {
  /** opens the same store each time (a fresh connection) */
  open: () => Promise<ArchiveStore>;
}

export function storeContract(t: Test, subject: StoreSubject): void {
  t.test('an object put is read back whole, byte for byte', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    const small = Buffer.from('hello, archive\n');
    const large = randomBytes(5 * 1024 * 1024 + 123);
    await store.put('test/small', small);
    await store.put('test/deep/er/large.bin', large);
    t.same(await store.get('test/small', 1024), small, 'the small one');
    t.ok((await store.get('test/deep/er/large.bin', large.length)).equals(large), 'the 5 MiB one');
    await t.rejects(
      store.get('test/deep/er/large.bin', large.length - 1),
      { code: 'store-object-large' },
      'not past a limit',
    );
    t.equal(await store.size('test/deep/er/large.bin'), large.length, 'its size');
    t.equal(await store.size('test/none'), null, 'no size for a missing object');
    await store.put('test/empty', Buffer.alloc(0));
    t.equal((await store.get('test/empty', 0)).length, 0, 'an empty object');
  });

  t.test('a range of an object is read as it is in the object; past its end, what is there', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    const large = randomBytes(3 * 1024 * 1024 + 77);
    await store.put('range/large', large);
    t.ok((await store.getRange('range/large', 0, 10)).equals(large.subarray(0, 10)), 'the first bytes');
    const middle = await store.getRange('range/large', 1024 * 1024 - 5, 1024 * 1024 + 9);
    t.ok(middle.equals(large.subarray(1024 * 1024 - 5, 2 * 1024 * 1024 + 4)), 'a range across read pieces');
    const tail = await store.getRange('range/large', large.length - 4, 100);
    t.ok(tail.equals(large.subarray(large.length - 4)), 'a range past the end gives the bytes there are');
    t.equal((await store.getRange('range/large', large.length + 10, 5)).length, 0, 'none past the end');
    t.equal((await store.getRange('range/large', 7, 0)).length, 0, 'an empty range');
    await t.rejects(store.getRange('range/none', 0, 4), { code: 'store-object-missing' });
  });

  t.test('a missing object is one error that names it', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    await t.rejects(store.get('test/not-there', 1024), {
      code: 'store-object-missing',
      message: /test\/not-there is missing/,
    });
  });

  t.test('a put replaces the object, and nothing half-written is ever listed', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    await store.put('replace/x', Buffer.from('first'));
    await store.put('replace/x', Buffer.from('second, longer'));
    t.equal((await store.get('replace/x', 1024)).toString(), 'second, longer');
    t.same(await store.list('replace/'), [{ key: 'replace/x', size: 14 }], 'one object, no temporary files');
  });

  t.test('list finds every object below a folder, at any depth, with its size', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    const keys = ['ls/a', 'ls/b/c', 'ls/b/d/e', 'lsx/not-below'];
    for (const [i, key] of keys.entries()) await store.put(key, Buffer.alloc(i + 1, i));
    const found = (await store.list('ls/')).sort((a, b) => a.key.localeCompare(b.key));
    t.same(found, [
      { key: 'ls/a', size: 1 },
      { key: 'ls/b/c', size: 2 },
      { key: 'ls/b/d/e', size: 3 },
    ]);
    t.same(await store.list('nothing-here/'), [], 'an empty list for a folder that does not exist');
    t.ok(
      (await store.list('')).some((o) => o.key === 'lsx/not-below'),
      'the whole store',
    );
  });

  t.test('remove removes; removing what is gone is fine', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    await store.put('rm/x', Buffer.from('x'));
    await store.remove('rm/x');
    t.equal(await store.size('rm/x'), null);
    await store.remove('rm/x');
    t.same(await store.list('rm/'), []);
  });

  t.test('many puts at once all arrive, and a new connection sees them after flush', async (t) => {
    const store = await subject.open();
    const objects = Array.from(
      { length: 48 },
      (_, i) => [`many/${(i % 7).toString()}/${i}`, randomBytes(i * 977)] as const,
    );
    await Promise.all(objects.map(([key, data]) => store.put(key, data)));
    await store.flush();
    await store.close();
    const again = await subject.open();
    t.teardown(() => again.close());
    t.equal((await again.list('many/')).length, objects.length, 'all listed');
    for (const [key, data] of objects) if (!(await again.get(key, data.length)).equals(data)) t.fail(`${key} differs`);
    t.pass('all read back');
  });

  t.test('a key that could leave the store is a bug, refused before anything is sent', async (t) => {
    const store = await subject.open();
    t.teardown(() => store.close());
    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', '-rf'])
      await t.rejects(store.put(key, Buffer.from('x')), { code: 'internal' }, JSON.stringify(key));
  });
}
