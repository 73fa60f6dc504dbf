// Locks in an archive store (src/archive/store-lock.ts): the conflict rules against a folder, a
// real sshd and s3rver (as test/stores/ runs the store contract), then staleness, unreadable
// locks, refreshing and two real processes contending, against a folder.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import t, { type Test } from 'tap';
import {
  LOCKS,
  acquireStoreLock,
  describeLock,
  listStoreLocks,
  parseLockRecord,
  removeStaleLocks,
  removeStoreLock,
  type StoreLockHandle,
  type StoreLockKind,
  type StoreLockRecord,
} from '../../src/archive/store-lock.ts';
import { openDirStore } from '../../src/stores/dir-store.ts';
import { openS3Store } from '../../src/stores/s3-store.ts';
import { openSshStore } from '../../src/stores/ssh-store.ts';
import type { ArchiveStore } from '../../src/stores/store.ts';
import { ROOT } from '../helpers/cli.ts';
import { lane } from '../helpers/lanes.ts';
import { startS3 } from '../helpers/s3-server.ts';
import { startSshd } from '../helpers/sshd.ts';
import { tmpDir } from '../helpers/tmp.ts';

const HOLDER = path.join(ROOT, 'test', 'helpers', 'store-lock-holder.ts');
const NOW = new Date('2026-12-04T13:30:00.000Z');
const clock =
  (at: Date = NOW) =>
  () =>
    at;

/** A lock of another host, as its qrv would have written it. */
function foreign(extra: Partial<StoreLockRecord> = {}): StoreLockRecord {
  return {
    kind: 'shared',
    host: 'elsewhere.example.net',
    pid: 4242,
    user: 'root',
    createdAt: '2026-12-04T13:00:00.000Z',
    refreshedAt: '2026-12-04T13:25:00.000Z',
    command: 'archive web',
    ...extra,
  };
}

async function plant(store: ArchiveStore, id: string, record: StoreLockRecord | string): Promise<void> {
  await store.put(`${LOCKS}${id}`, Buffer.from(typeof record === 'string' ? record : JSON.stringify(record)));
}

async function lockKeys(store: ArchiveStore): Promise<string[]> {
  return (await store.list(LOCKS)).map((o) => o.key).sort();
}

/** Takes a lock without a timer, at NOW, settling briefly. */
function take(store: ArchiveStore, kind: StoreLockKind, command: string, extra = {}): Promise<StoreLockHandle> {
  return acquireStoreLock(store, kind, {
    command,
    now: clock(),
    settleMs: 20,
    refreshEveryMs: null,
    storeName: 'vault',
    ...extra,
  });
}

/** The conflict rules, run against each kind of store. */
function lockContract(t: Test, open: () => Promise<ArchiveStore>): void {
  t.test('shared locks coexist, and each is one object that release removes', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const a = await take(store, 'shared', 'archive web');
    const b = await take(store, 'shared', 'archive db');
    t.match(a.id, /^[0-9a-f]{16}$/);
    t.same(await lockKeys(store), [a.key, b.key].sort());
    const listed = await listStoreLocks(store, { now: clock() });
    t.same(
      listed
        .map((e) => [e.record?.command, e.record?.kind, e.record?.host, e.record?.pid, e.stale, e.malformed])
        .sort(),
      [
        ['archive db', 'shared', os.hostname(), process.pid, null, null],
        ['archive web', 'shared', os.hostname(), process.pid, null, null],
      ],
    );
    t.same(listed[0]?.record?.createdAt, NOW.toISOString());
    await a.release();
    await b.release();
    await a.release();
    t.same(await lockKeys(store), [], 'nothing left');
  });

  t.test('an exclusive lock is refused while any other lock lives, and leaves nothing', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const shared = await take(store, 'shared', 'archive web');
    await t.rejects(take(store, 'exclusive', 'prune'), {
      name: 'QrvError',
      exit: 'busy',
      code: 'store-locked',
      message: new RegExp(
        `^cannot take an exclusive lock on the archive store .+ for \`qrv prune\`: a shared lock of \`qrv archive web\` \\(pid ${process.pid} on ${os.hostname()}( as \\w+)?, taken 0\\.0s ago, refreshed 0\\.0s ago\\) holds it$`,
      ),
      hint: 'wait for it to finish and run the command again, or, if that process is gone, run `qrv store unlock vault`',
    });
    t.same(await lockKeys(store), [shared.key], 'the refused lock was removed');
    await shared.release();
    const exclusive = await take(store, 'exclusive', 'prune');
    t.same(await lockKeys(store), [exclusive.key]);
    await exclusive.release();
  });

  t.test('an exclusive lock keeps out shared and exclusive ones', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const exclusive = await take(store, 'exclusive', 'prune');
    await t.rejects(take(store, 'shared', 'archive web'), {
      code: 'store-locked',
      message: /cannot take a shared lock .* for `qrv archive web`: an exclusive lock of `qrv prune` \(pid \d+/,
    });
    await t.rejects(take(store, 'exclusive', 'prune'), {
      code: 'store-locked',
      message: /an exclusive lock of `qrv prune`/,
    });
    await plant(store, 'aaaa', foreign());
    await t.rejects(take(store, 'exclusive', 'prune'), { code: 'store-locked', message: /holds it$/ });
    t.same(await lockKeys(store), [`${LOCKS}aaaa`, exclusive.key].sort(), 'only the locks that were there');
    await exclusive.release();
    await removeStoreLock(store, 'aaaa');
  });

  t.test('several holders: the first named, the rest counted', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await plant(store, 'b1', foreign({ createdAt: '2026-12-04T13:01:00.000Z', command: 'archive b' }));
    await plant(store, 'b2', foreign({ createdAt: '2026-12-04T12:00:00.000Z', command: 'archive a' }));
    await t.rejects(take(store, 'exclusive', 'prune'), {
      message:
        /: a shared lock of `qrv archive a` \(pid 4242 on elsewhere\.example\.net as root, taken 1h30m ago, refreshed 5m00s ago\) and 1 more holds it$/,
    });
    for (const id of ['b1', 'b2']) await removeStoreLock(store, id);
  });

  t.test('stale locks do not stand in the way, are reported, and are what removeStaleLocks removes', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await plant(store, 'c0', foreign({ refreshedAt: '2026-12-04T12:59:59.000Z' }));
    await plant(store, 'c1', foreign({ kind: 'exclusive', refreshedAt: '2026-12-04T12:00:00.000Z' }));
    const lock = await take(store, 'exclusive', 'prune');
    t.same(
      lock.ignored.map((e) => [e.id, e.stale]),
      [
        ['c0', 'not refreshed for 30m01s (stale after 30m00s)'],
        ['c1', 'not refreshed for 1h30m (stale after 30m00s)'],
      ],
    );
    await plant(store, 'c2', foreign({ refreshedAt: '2026-12-04T13:00:00.000Z' }));
    const removed = await removeStaleLocks(store, { now: clock() });
    t.same(removed.map((e) => e.id).sort(), ['c0', 'c1']);
    t.same(
      await lockKeys(store),
      [`${LOCKS}c2`, lock.key].sort(),
      'the live ones stay: exactly 30 minutes is not stale',
    );
    await lock.release();
    await removeStoreLock(store, 'c2');
    t.same(
      (await removeStaleLocks(store, { now: clock(), staleAfterMs: 60_000 })).map((e) => e.id),
      [],
      'nothing to remove',
    );
  });

  t.test('an unreadable lock keeps out an exclusive lock, and a shared one passes it and reports it', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await plant(store, 'dead', '{"kind": "exclusive", "host"');
    await t.rejects(take(store, 'exclusive', 'prune'), {
      code: 'store-locked',
      message: /: locks\/dead, which is not a lock qrv can read \(it is not JSON\) holds it$/,
    });
    const shared = await take(store, 'shared', 'archive web');
    t.same(
      shared.ignored.map((e) => [e.key, e.record, e.malformed, e.stale]),
      [['locks/dead', null, 'it is not JSON', null]],
    );
    await shared.release();
    t.same(await removeStaleLocks(store, { now: clock() }), [], 'not removed as stale');
    await removeStoreLock(store, 'dead');
    t.same(await lockKeys(store), []);
  });

  t.test('an exclusive lock lists again after settling, and sees a writer that came meanwhile', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    // a store whose first listing does not yet show another host's lock (a lagging listing)
    let lists = 0;
    const lagging: ArchiveStore = Object.create(store) as ArchiveStore;
    lagging.list = async (folder) => {
      const found = await store.list(folder);
      lists += 1;
      if (lists === 1) await plant(store, 'late', foreign());
      return found;
    };
    await t.rejects(take(lagging, 'exclusive', 'prune'), { code: 'store-locked', message: /archive web/ });
    t.equal(lists, 2, 'listed twice');
    t.same(await lockKeys(store), [`${LOCKS}late`], 'its own lock removed');
    await removeStoreLock(store, 'late');
  });

  t.test('exclusive locks taken at once: never two', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => take(store, 'exclusive', 'prune')));
      const held = results.filter((r): r is PromiseFulfilledResult<StoreLockHandle> => r.status === 'fulfilled');
      t.ok(held.length <= 1, `round ${round}: ${held.length} held`);
      for (const r of results) if (r.status === 'rejected') t.match(r.reason, { code: 'store-locked' });
      for (const h of held) await h.value.release();
      t.same(await lockKeys(store), [], 'nothing left');
    }
  });
}

t.test('the conflict rules, in a folder store', async (t) => {
  const root = path.join(await tmpDir(t), 'store');
  await fs.mkdir(root, { mode: 0o700 });
  lockContract(t, () => openDirStore(root));
});

t.test('the conflict rules, in an S3 store (s3rver on loopback)', async (t) => {
  const s3 = await startS3(t);
  lockContract(t, () => openS3Store({ kind: 's3', location: `s3://${s3.bucket}/locks-test`, endpoint: s3.endpoint }));
});

t.test('the conflict rules, in an SSH store (sshd on loopback)', async (t) => {
  if (!lane(t, 'sshd', { root: true, tools: ['ssh', 'ssh-keygen', '/usr/sbin/sshd'] })) return;
  const sshd = await startSshd(t);
  const location = {
    kind: 'ssh' as const,
    location: `root@127.0.0.1:${path.join(sshd.dir, 'store')}`,
    port: sshd.port,
    sshOptions: sshd.sshOptions,
  };
  await (await openSshStore(location, true)).close();
  lockContract(t, () => openSshStore(location));
});

async function folderStore(t: Test): Promise<ArchiveStore> {
  const root = path.join(await tmpDir(t), 'store');
  await fs.mkdir(root, { mode: 0o700 });
  const store = await openDirStore(root);
  t.teardown(() => store.close());
  return store;
}

async function deadPid(): Promise<number> {
  const child = execa(process.execPath, ['-e', '']);
  await child;
  return child.pid!;
}

t.test('a lock of this host whose process is gone is stale at once; one of another host is not', async (t) => {
  const store = await folderStore(t);
  const gone = await deadPid();
  await plant(store, 'e1', foreign({ kind: 'exclusive', host: os.hostname(), pid: gone }));
  await plant(store, 'e2', foreign({ kind: 'exclusive', host: os.hostname(), pid: process.pid, startTime: 'earlier' }));
  const entries = await listStoreLocks(store, { now: clock() });
  t.same(
    entries.map((e) => [e.id, e.stale]),
    [
      ['e1', `process ${gone} on this host is gone`],
      ['e2', `process ${process.pid} on this host is gone (the pid is another process's now)`],
    ],
  );
  await removeStaleLocks(store, { now: clock() });
  const lives = [
    foreign({ kind: 'exclusive', pid: gone }), // another host: this one cannot tell
    foreign({ kind: 'exclusive', host: os.hostname(), pid: gone, pidNamespace: 'pid:[1]' }), // another container
    foreign({ kind: 'exclusive', host: os.hostname(), pid: process.pid }), // alive
    foreign({ kind: 'exclusive', refreshedAt: '2026-12-04T14:00:00.000Z' }), // a clock ahead
  ];
  for (const [i, record] of lives.entries()) {
    await plant(store, `f${i}`, record);
    t.same(
      (await listStoreLocks(store, { now: clock() })).map((e) => e.stale),
      [null],
      `live: ${i}`,
    );
    await t.rejects(take(store, 'shared', 'archive web'), { code: 'store-locked' }, `keeps out: ${i}`);
    await removeStoreLock(store, `f${i}`);
  }
});

t.test('what is not a lock is said exactly, and large objects are not read', async (t) => {
  const cases: [string, string][] = [
    ['', 'it is empty'],
    ['{', 'it is not JSON'],
    ['[1]', 'it is not a JSON object'],
    ['null', 'it is not a JSON object'],
    [JSON.stringify({ ...foreign(), kind: 'weird' }), 'its kind is neither shared nor exclusive'],
    [JSON.stringify({ ...foreign(), host: '' }), 'it names no host'],
    [JSON.stringify({ ...foreign(), pid: 0 }), 'it names no pid'],
    [JSON.stringify({ ...foreign(), pid: 1.5 }), 'it names no pid'],
    [JSON.stringify({ ...foreign(), refreshedAt: 'soon' }), 'its createdAt or refreshedAt is not a time'],
    [JSON.stringify({ ...foreign(), command: 3 }), 'it names no command'],
    [JSON.stringify({ ...foreign(), user: 0 }), 'its user is not text'],
  ];
  for (const [text, why] of cases) t.equal(parseLockRecord(Buffer.from(text)), why, text);
  t.same(parseLockRecord(Buffer.from(JSON.stringify({ ...foreign(), extra: 1 }))), { ...foreign(), extra: 1 });
  const store = await folderStore(t);
  await plant(store, 'big', 'x'.repeat(64 * 1024 + 1));
  t.same(
    (await listStoreLocks(store)).map((e) => [e.id, e.malformed]),
    [['big', 'it is 65537 bytes, not a lock']],
  );
  await t.rejects(removeStoreLock(store, '../x'), { code: 'usage', message: /"..\/x" is not a lock id/ });
});

t.test('describeLock', async (t) => {
  const entry = {
    key: 'locks/ab',
    id: 'ab',
    record: foreign({ kind: 'exclusive', user: undefined }),
    malformed: null,
    stale: null,
  };
  t.equal(
    describeLock(entry, NOW),
    'an exclusive lock of `qrv archive web` (pid 4242 on elsewhere.example.net, taken 30m00s ago, refreshed 5m00s ago)',
  );
});

t.test('refresh rewrites refreshedAt; a lock removed meanwhile is lost, and check and release say so', async (t) => {
  const store = await folderStore(t);
  let at = NOW;
  const lock = await take(store, 'shared', 'archive web', { now: () => at });
  at = new Date(NOW.getTime() + 5 * 60_000);
  await lock.refresh();
  t.equal(lock.record.refreshedAt, at.toISOString());
  const stored = JSON.parse((await store.get(lock.key, 65536)).toString()) as StoreLockRecord;
  t.same(stored, lock.record, 'the stored lock is the record');
  t.equal(stored.createdAt, NOW.toISOString(), 'createdAt stays');
  lock.check();
  await removeStoreLock(store, lock.id);
  const lost = {
    exit: 'busy',
    code: 'store-lock-lost',
    message: /the shared lock on the archive store .* was lost: locks\/[0-9a-f]{16} was removed/,
  };
  await t.rejects(lock.refresh(), lost);
  t.same(await lockKeys(store), [], 'not written again');
  t.throws(() => lock.check(), lost);
  await t.rejects(lock.refresh(), lost, 'and stays lost');
  await t.rejects(lock.release(), lost);
  await lock.release();
  await t.rejects(lock.refresh(), { code: 'internal', message: /released/ });
});

t.test('a holder that was not refreshed in time (a suspended machine) has lost its lock', async (t) => {
  const store = await folderStore(t);
  let at = NOW;
  const lock = await take(store, 'exclusive', 'prune', { now: () => at });
  at = new Date(NOW.getTime() + 30 * 60_000);
  lock.check();
  at = new Date(NOW.getTime() + 30 * 60_000 + 1);
  const lost = {
    code: 'store-lock-lost',
    message: /was lost: it was last refreshed 30m00s ago, and others take a lock not refreshed for 30m00s for gone/,
  };
  t.throws(() => lock.check(), lost);
  await t.rejects(lock.refresh(), lost, 'no refresh brings it back');
  await t.rejects(lock.release(), lost);
  t.same(await lockKeys(store), [], 'but it is removed');
});

t.test('the handle refreshes itself on a timer, and remembers a failure for check and release', async (t) => {
  const store = await folderStore(t);
  const lock = await acquireStoreLock(store, 'shared', { command: 'archive web', refreshEveryMs: 30 });
  const first = lock.record.refreshedAt;
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.not(lock.record.refreshedAt, first, 'refreshed');
  // what the store holds is a refreshed record: this one, or (a refresh in flight) the one before
  const stored = JSON.parse((await store.get(lock.key, 65536)).toString()).refreshedAt as string;
  t.ok(stored > first && stored <= lock.record.refreshedAt, `the store holds a refreshed record (${stored})`);
  await lock.release();
  t.same(await lockKeys(store), []);

  let failing = false;
  const flaky: ArchiveStore = Object.create(store) as ArchiveStore;
  flaky.put = (key, data) =>
    failing ? Promise.reject(Object.assign(new Error('EIO'), { code: 'store-failed' })) : store.put(key, data);
  const held = await acquireStoreLock(flaky, 'shared', { command: 'archive web', refreshEveryMs: 20 });
  failing = true;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.throws(() => held.check(), { code: 'store-failed' });
  await t.rejects(held.release(), { code: 'store-failed' });
  t.same(await lockKeys(store), [], 'removed all the same');
});

t.test('a refresh and a release at once: the release waits, and the lock is gone after', async (t) => {
  const store = await folderStore(t);
  const lock = await acquireStoreLock(store, 'shared', { command: 'archive web', refreshEveryMs: null });
  const refreshing = lock.refresh();
  await lock.release();
  await refreshing;
  t.same(await lockKeys(store), []);
});

/** Starts a holder process and resolves with its first JSON line (or "ready"). */
function holder(root: string, kind: StoreLockKind, command: string, flags: string[]) {
  const child = execa('node', ['--import', 'tsx', HOLDER, root, kind, command, ...flags], {
    cwd: ROOT,
    reject: false,
    timeout: 120_000,
  });
  const lines = readline.createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => (waiting.length ? waiting.shift()!(line) : queue.push(line)));
  const next = (): Promise<string> =>
    queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve));
  return { child, next };
}

async function say(child: ResultPromise, line: string): Promise<void> {
  child.stdin?.write(`${line}\n`);
}

t.test('two processes: an exclusive holder keeps out another; killed, its lock is stale at once', async (t) => {
  const store = await folderStore(t);
  const root = store.where;
  const a = holder(root, 'exclusive', 'prune', ['hold']);
  const held = JSON.parse(await a.next()) as { held: string; pid: number };
  t.match(held, { held: /^[0-9a-f]{16}$/, pid: a.child.pid });
  const b = holder(root, 'shared', 'archive web', []);
  const refused = JSON.parse(await b.next()) as { code: string; message: string };
  t.match(refused, {
    code: 'store-locked',
    message: new RegExp(`an exclusive lock of \`qrv prune\` \\(pid ${a.child.pid} on `),
  });
  t.equal((await b.child).exitCode, 1);
  a.child.kill('SIGKILL');
  await a.child;
  t.same(await lockKeys(store), [`${LOCKS}${held.held}`], 'the killed holder left its lock');
  const c = holder(root, 'shared', 'archive web', []);
  t.match(JSON.parse(await c.next()), { held: /^[0-9a-f]{16}$/, ignored: 1 }, 'passed over, as its process is gone');
  t.equal((await c.child).exitCode, 0);
  t.same(
    (await removeStaleLocks(store)).map((e) => e.id),
    [held.held],
  );
  t.same(await lockKeys(store), []);
});

t.test('two processes taking exclusive locks at the same moment: never both', async (t) => {
  const store = await folderStore(t);
  for (let round = 0; round < 3; round++) {
    // each winner keeps its lock until both have answered: on a loaded machine one racer may
    // start late, and one that had taken and released its lock by then is no overlap
    const racers = [
      holder(store.where, 'exclusive', 'prune', ['go', 'hold']),
      holder(store.where, 'exclusive', 'prune', ['go', 'hold']),
    ];
    for (const r of racers) t.equal(await r.next(), 'ready');
    for (const r of racers) await say(r.child, 'go');
    const said = await Promise.all(
      racers.map(async (r) => JSON.parse(await r.next()) as { held?: string; code?: string }),
    );
    t.ok(
      said.filter((s) => s.held).length <= 1,
      `round ${round}: ${JSON.stringify(said.map((s) => s.held ?? s.code))}`,
    );
    for (const s of said) if (!s.held) t.equal(s.code, 'store-locked');
    for (const [i, r] of racers.entries()) {
      if (!said[i]!.held) continue;
      await say(r.child, 'release');
      t.equal(await r.next(), 'released');
    }
    for (const r of racers) await r.child;
    t.same(await lockKeys(store), [], 'nothing left');
  }
});
