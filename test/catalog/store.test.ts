// The catalog store on real files: creation, atomic 0600 writes, refusal of corrupt or newer
// files (left byte-identical), and the lock between real processes.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Catalog } from '../../src/catalog/store.ts';
import { withLock } from '../../src/catalog/lock.ts';
import { emptyCatalog, SCHEMA_VERSION, type CatalogData, type Volume } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const WRITER = path.join(ROOT, 'test', 'helpers', 'catalog-writer.ts');

function volume(name: string): Volume {
  return {
    name,
    provider: 'file',
    path: `/srv/${name}.img`,
    options: { mode: 'image' },
    sizeBytes: 1024,
    addedAt: '2025-01-02T03:04:05.000Z',
    policy: null,
    discovered: false,
  };
}

/** What is in the home besides its lock file, which stays (empty while nobody holds it). */
async function filesIn(t: Test, home: string): Promise<string[]> {
  const names = (await fs.readdir(home)).sort();
  if (names.includes('catalog.lock'))
    t.equal((await fs.stat(path.join(home, 'catalog.lock'))).size, 0, 'the lock file is free (empty)');
  return names.filter((name) => name !== 'catalog.lock');
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Asserts a QrvError with this exit and code. */
function isQrvErrorWith(t: Test, error: unknown, exit: string, code: string): void {
  t.ok(error instanceof QrvError, `a QrvError (got ${String(error)})`);
  t.match(error, { exit, code });
}

function writer(home: string, prefix: string, count: number, extra: string[] = [], env: Record<string, string> = {}) {
  return execa('node', ['--import', 'tsx', WRITER, home, prefix, String(count), ...extra], {
    cwd: ROOT,
    reject: false,
    env,
    timeout: 120_000,
  });
}

t.test('open on a new folder creates it (0700) and writes nothing', async (t) => {
  const home = path.join(await tmpDir(t), 'a', 'home');
  const catalog = await Catalog.open(home);
  const st = await fs.stat(home);
  t.ok(st.isDirectory(), 'home created, parents included');
  t.equal(st.mode & 0o777, 0o700, 'home is 0700');
  t.same(await fs.readdir(home), [], 'nothing written');
  t.equal(catalog.file, path.join(home, 'catalog.json'));
  t.same(await catalog.read(), emptyCatalog(), 'reads as an empty catalog');
  t.same(await fs.readdir(home), [], 'reading wrote nothing either');
});

t.test('update persists atomically: mode 0600, no temporary file or lock left', async (t) => {
  const home = await tmpDir(t);
  const catalog = await Catalog.open(home);
  const result = await catalog.update((data) => {
    data.volumes.push(volume('db'));
    return data.volumes.length;
  });
  t.equal(result, 1, 'update returns what the change returned');
  t.same(await filesIn(t, home), ['catalog.json'], 'only the catalog (and the free lock file) is left in the home');
  const st = await fs.stat(catalog.file);
  t.equal(st.mode & 0o777, 0o600, 'catalog file is 0600');
  const onDisk = JSON.parse(await fs.readFile(catalog.file, 'utf8')) as CatalogData;
  t.same(onDisk, { ...emptyCatalog(), volumes: [volume('db')] }, 'the file holds the change');

  await catalog.update((data) => {
    data.volumes.push(volume('web'));
  });
  t.same(await filesIn(t, home), ['catalog.json'], 'a second update also leaves nothing behind');
  t.equal((await fs.stat(catalog.file)).mode & 0o777, 0o600, 'still 0600 after replacing the file');
  const reopened = await Catalog.open(home);
  t.same(
    (await reopened.read()).volumes.map((v) => v.name),
    ['db', 'web'],
    'a new instance reads both rows',
  );
});

t.test('reads beside updates in the same process: each sees a whole version, none fails', async (t) => {
  // An update clears what the process knows of the files while it writes; a read that began
  // before that and found the file unchanged must use the version it knew (stop 23's CI: an
  // internal error "reading 'charCodeAt' of null" in a snap of a group under emulation).
  const home = await tmpDir(t);
  const catalog = await Catalog.open(home);
  await catalog.update((data) => void data.volumes.push(volume('v0')));
  let writing = true;
  const seen = new Set<number>();
  const readLoop = async (): Promise<void> => {
    while (writing) seen.add((await catalog.read()).volumes.length);
  };
  const readers = [readLoop(), readLoop(), readLoop()];
  for (let i = 1; i <= 20; i += 1) await catalog.update((data) => void data.volumes.push(volume(`v${i}`)));
  writing = false;
  await Promise.all(readers);
  t.ok(seen.size > 1, `the reads saw the catalog grow (${seen.size} versions)`);
  t.ok(
    [...seen].every((n) => n >= 1 && n <= 21),
    'every read was a whole version',
  );
  t.equal((await catalog.read()).volumes.length, 21, 'every update landed');
});

t.test('update keeps mode 0600 even when the old file was wider', async (t) => {
  const home = await tmpDir(t);
  const file = path.join(home, 'catalog.json');
  await fs.writeFile(file, JSON.stringify(emptyCatalog()), { mode: 0o644 });
  await fs.chmod(file, 0o644);
  const catalog = await Catalog.open(home);
  await catalog.update((data) => void data.volumes.push(volume('db')));
  t.equal((await fs.stat(file)).mode & 0o777, 0o600);
});

t.test('read returns the validated newest contents', async (t) => {
  const home = await tmpDir(t);
  const data: CatalogData = { ...emptyCatalog(), volumes: [volume('db')] };
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(data));
  const catalog = await Catalog.open(home);
  t.same(await catalog.read(), data);
  const other = await Catalog.open(home);
  await other.update((d) => void d.volumes.push(volume('web')));
  t.same(
    (await catalog.read()).volumes.map((v) => v.name),
    ['db', 'web'],
    'sees a write made through another instance',
  );
});

const corruptCases: Array<{ name: string; text: string; pattern: RegExp }> = [
  { name: 'bad JSON', text: '{"schemaVersion": 1, "volumes": [', pattern: /not valid JSON/ },
  {
    name: 'a field of the wrong type',
    text: `${JSON.stringify({ ...emptyCatalog(), volumes: [{ ...volume('db'), sizeBytes: '1024' }] }, null, 2)}\n`,
    pattern: /volumes\.0\.sizeBytes/,
  },
  { name: 'a list that is an object', text: JSON.stringify({ ...emptyCatalog(), jobs: {} }), pattern: /jobs/ },
  { name: 'a JSON value that is not an object', text: '42\n', pattern: /corrupt/ },
];

for (const c of corruptCases) {
  t.test(`a catalog with ${c.name} is refused and left byte-identical`, async (t) => {
    const home = await tmpDir(t);
    const file = path.join(home, 'catalog.json');
    await fs.writeFile(file, c.text, { mode: 0o600 });
    const before = await fs.readFile(file);

    const openError = await errorOf(Catalog.open(home));
    isQrvErrorWith(t, openError, 'catalog', 'catalog-corrupt');
    t.match((openError as Error).message, c.pattern, 'the message says what is wrong');
    t.match((openError as Error).message, file, 'the message names the file');
    t.equal((openError as QrvError).exitCode, 5, 'exit status 5');
    t.same(await fs.readFile(file), before, 'byte-identical after open');

    // An instance opened while the file was good, then the file goes bad under it.
    await fs.writeFile(file, JSON.stringify(emptyCatalog()));
    const catalog = await Catalog.open(home);
    await fs.writeFile(file, c.text);
    let changed = false;
    const updateError = await errorOf(
      catalog.update((data) => {
        changed = true;
        data.volumes.push(volume('x'));
      }),
    );
    isQrvErrorWith(t, updateError, 'catalog', 'catalog-corrupt');
    t.notOk(changed, 'the change never ran');
    t.same(await fs.readFile(file), before, 'byte-identical after update');
    t.same(await filesIn(t, home), ['catalog.json'], 'no temporary file left behind, the lock is free');
    isQrvErrorWith(t, await errorOf(catalog.read()), 'catalog', 'catalog-corrupt');
  });
}

t.test(
  'a read after another writer changed the file sees the change; reads of an unchanged file are the same contents',
  async (t) => {
    const home = path.join(await tmpDir(t), 'home');
    const mine = await Catalog.open(home);
    await mine.update((data) => void data.volumes.push(volume('a')));
    const first = await mine.read();
    const again = await mine.read();
    t.equal(again, first, "an unchanged file is not parsed again: the read is this process's copy");
    await mine.update((data) => {
      (data.volumes[0] as Volume).options.mode = 'device';
    });
    t.equal(
      (first.volumes[0] as Volume).options.mode,
      'image',
      'what a read returned is never changed by a later update (copy on write)',
    );
    t.equal(((await mine.read()).volumes[0] as Volume).options.mode, 'device', 'the next read has the change');
    await t.rejects(
      mine.update((data) => {
        (data.volumes[0] as Volume).options.mode = 'half-done';
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    t.equal(
      ((await mine.read()).volumes[0] as Volume).options.mode,
      'device',
      'a change that failed halfway left nothing behind',
    );

    // Another process's update renames a new file over it.
    const other = await Catalog.open(home);
    await other.update((data) => void data.volumes.push(volume('b')));
    t.same(
      (await mine.read()).volumes.map((v) => v.name),
      ['a', 'b'],
      "another writer's rename is seen",
    );

    // A change written in place (same inode, same size): seen by its mtime and ctime.
    const file = path.join(home, 'catalog.json');
    const text = await fs.readFile(file, 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const handle = await fs.open(file, 'r+');
    await handle.write(text.replace('"name": "b"', '"name": "c"'), 0);
    await handle.close();
    t.same(
      (await mine.read()).volumes.map((v) => v.name),
      ['a', 'c'],
      'an in-place change is seen',
    );
    await mine.update((data) => void data.volumes.push(volume('d')));
    t.same(
      (await other.read()).volumes.map((v) => v.name),
      ['a', 'c', 'd'],
      'and an update is based on it',
    );
  },
);

t.test('a catalog with a newer schemaVersion is refused as newer and left untouched', async (t) => {
  const home = await tmpDir(t);
  const file = path.join(home, 'catalog.json');
  // A newer version may have any shape; it must not be reported as corrupt.
  const newer = SCHEMA_VERSION + 1;
  const text = `${JSON.stringify({ schemaVersion: newer, volumes: 'a new shape', somethingNew: [] })}\n`;
  await fs.writeFile(file, text);
  const openError = await errorOf(Catalog.open(home));
  isQrvErrorWith(t, openError, 'catalog', 'catalog-newer');
  t.match((openError as Error).message, new RegExp(`schema ${newer}`));
  t.equal(await fs.readFile(file, 'utf8'), text, 'untouched after open');

  await fs.writeFile(file, JSON.stringify(emptyCatalog()));
  const catalog = await Catalog.open(home);
  await fs.writeFile(file, text);
  isQrvErrorWith(
    t,
    await errorOf(catalog.update((data) => void data.volumes.push(volume('x')))),
    'catalog',
    'catalog-newer',
  );
  t.equal(await fs.readFile(file, 'utf8'), text, 'untouched after update');
});

t.test('a change that breaks the schema is not written', async (t) => {
  const home = await tmpDir(t);
  const catalog = await Catalog.open(home);
  await catalog.update((data) => void data.volumes.push(volume('db')));
  const before = await fs.readFile(catalog.file);
  const error = await errorOf(catalog.update((data) => void data.volumes.push({ ...volume('bad'), sizeBytes: -1 })));
  t.ok(error instanceof Error, 'the update fails');
  t.same(await fs.readFile(catalog.file), before, 'the file is unchanged');
  t.same(
    (await catalog.read()).volumes.map((v) => v.name),
    ['db'],
    'read shows only what was written',
  );
});

t.test('a failed update on a catalog never written leaves no trace', async (t) => {
  const home = await tmpDir(t);
  const catalog = await Catalog.open(home);
  const error = await errorOf(
    catalog.update((data) => {
      data.volumes.push(volume('half-done'));
      throw new Error('the change failed');
    }),
  );
  t.match(error, { message: 'the change failed' }, 'the update fails');
  t.same(await filesIn(t, home), [], 'nothing was written (only the free lock file is there)');
  t.same((await catalog.read()).volumes, [], 'read does not show the failed change');
  await catalog.update((data) => void data.volumes.push(volume('next')));
  const onDisk = JSON.parse(await fs.readFile(catalog.file, 'utf8')) as CatalogData;
  t.same(
    onDisk.volumes.map((v) => v.name),
    ['next'],
    'the next update does not write the failed change',
  );
});

t.test('two processes updating at once lose no update', async (t) => {
  const home = await tmpDir(t);
  const a = writer(home, 'a', 25, ['go']);
  const b = writer(home, 'b', 25, ['go']);
  // Start both together: each says "ready" once its catalog is open, then waits for "go".
  const ready = (child: typeof a) =>
    new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', () => reject(new Error('writer exited before it was ready')));
    });
  await Promise.all([ready(a), ready(b)]);
  a.stdin?.write('go\n');
  b.stdin?.write('go\n');
  const [ra, rb] = await Promise.all([a, b]);
  t.equal(ra.exitCode, 0, `writer a: ${ra.stdout} ${ra.stderr}`);
  t.equal(rb.exitCode, 0, `writer b: ${rb.stdout} ${rb.stderr}`);

  const names = (await (await Catalog.open(home)).read()).volumes.map((v) => v.name);
  const expected = [
    ...Array.from({ length: 25 }, (_, i) => `a-${i}`),
    ...Array.from({ length: 25 }, (_, i) => `b-${i}`),
  ];
  t.equal(names.length, 50, 'all 50 rows are there');
  t.same([...names].sort(), [...expected].sort(), 'every row from both processes, each once');
  t.same(await filesIn(t, home), ['catalog.json'], 'no temporary file left behind, the lock is free');
});

t.test('a stale lock folder left by an older qrv that crashed does not block update', async (t) => {
  const home = await tmpDir(t);
  const lock = path.join(home, 'catalog.lock');
  await fs.mkdir(lock);
  const past = new Date(Date.now() - 60_000);
  await fs.utimes(lock, past, past);
  const catalog = await Catalog.open(home);
  const started = Date.now();
  await catalog.update((data) => void data.volumes.push(volume('db')));
  const ms = Date.now() - started;
  t.ok(ms < 3000, `took over the stale lock at once (${ms} ms; the wait limit is 15 s)`);
  t.same(
    (await catalog.read()).volumes.map((v) => v.name),
    ['db'],
    'the update was written',
  );
  t.same(await filesIn(t, home), ['catalog.json'], 'the old lock folder is gone afterwards');
  t.ok((await fs.lstat(lock)).isFile(), 'the lock is a file now');
});

t.test('a lock held by another live process makes update fail with busy', async (t) => {
  const home = await tmpDir(t);
  const catalog = await Catalog.open(home);
  await catalog.update((data) => void data.volumes.push(volume('db')));
  const before = await fs.readFile(catalog.file);

  let release!: () => void;
  const holding = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const held = withLock(home, async () => {
    locked();
    await holding;
  });
  await isLocked;
  const lockStat = await fs.stat(path.join(home, 'catalog.lock'));
  t.ok(Date.now() - lockStat.mtimeMs < 5000, 'the lock is fresh');

  const started = Date.now();
  const blocked = await writer(home, 'c', 1, [], { QRV_LOCK_WAIT_MS: '400' });
  const ms = Date.now() - started;
  release();
  await held;

  t.equal(blocked.exitCode, 1, 'the writer failed');
  const error = JSON.parse(blocked.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
  t.match(error, { name: 'QrvError', exit: 'busy', code: 'catalog-locked' });
  t.match(error.message, home, 'the message names the home');
  t.ok(ms < 10_000, `gave up after the short wait (${ms} ms with process start-up; the default is 15 s)`);
  t.same(await fs.readFile(catalog.file), before, 'the catalog is unchanged');

  const after = await writer(home, 'c', 1, [], { QRV_LOCK_WAIT_MS: '400' });
  t.equal(after.exitCode, 0, `once released, the same writer succeeds: ${after.stdout}`);
  t.same(
    (await catalog.read()).volumes.map((v) => v.name),
    ['db', 'c-0'],
  );
});

t.test('a version 1 catalog is read and upgraded to the current version on the next write', async (t) => {
  const home = await tmpDir(t);
  const file = path.join(home, 'catalog.json');
  const v1 = {
    schemaVersion: 1,
    volumes: [
      {
        name: 'db',
        provider: 'file',
        path: '/srv/db.img',
        options: {},
        sizeBytes: 1,
        addedAt: '2025-01-02T03:04:05.000Z',
      },
    ],
    snapshots: [],
    qrvs: [],
    jobs: [],
  };
  await fs.writeFile(file, JSON.stringify(v1));
  const catalog = await Catalog.open(home);
  const data = await catalog.read();
  t.equal(data.schemaVersion, SCHEMA_VERSION);
  t.match(data.volumes[0], { name: 'db', policy: null, discovered: false });
  t.same(
    data.subclients.map((s) => [s.name, s.volumes]),
    [['default', ['db']]],
    'the default sub-client exists and holds the volumes v1 knew',
  );
  t.same(data.settings, { discovery: [], ignored: [], historyRetention: '400d' }, 'settings with their defaults');
  t.equal(JSON.parse(await fs.readFile(file, 'utf8')).schemaVersion, 1, 'reading alone does not rewrite it');
  await catalog.update(() => undefined);
  t.equal(JSON.parse(await fs.readFile(file, 'utf8')).schemaVersion, SCHEMA_VERSION, 'the next write upgrades it');
});

t.test('a version 2 catalog gains the incremental-copy fields with their defaults', async (t) => {
  const home = await tmpDir(t);
  const at = '2026-11-20T00:00:00.000Z';
  const v2 = {
    schemaVersion: 2,
    volumes: [],
    snapshots: [],
    qrvs: [
      {
        id: 'q-00000001',
        volume: 'db',
        snapshotId: 's-00000001',
        destination: '/r/db.img',
        destinationKind: 'file',
        state: 'ready',
        sizeBytes: 1,
        blockSize: 65536,
        checksum: 'xxh64:0123456789abcdef',
        ledger: null,
        createdAt: at,
        updatedAt: at,
        history: [
          {
            snapshotId: 's-00000001',
            at,
            method: 'full',
            bytesRead: 1,
            bytesWritten: 1,
            seconds: 0.1,
            jobId: 'j-00000001',
          },
        ],
        pool: null,
      },
    ],
    jobs: [
      {
        id: 'j-00000001',
        kind: 'copy',
        volume: 'db',
        state: 'succeeded',
        pid: 1,
        host: 'h',
        startedAt: at,
        endedAt: at,
        snapshotId: 's-00000001',
        qrvId: 'q-00000001',
        destination: '/r/db.img',
        steps: [],
        warnings: [],
        error: null,
      },
    ],
    policies: [
      {
        name: 'p',
        persist: null,
        copy: 'now',
        unsnap: 'after-copy',
        dest: null,
        keep: null,
        schedule: null,
        hooks: {},
        hookTimeout: null,
        createdAt: at,
        updatedAt: at,
      },
    ],
  };
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(v2));
  const data = await (await Catalog.open(home)).read();
  t.match(data.qrvs[0], { lastVerify: null, history: [{ changedBlocks: 0, resumed: false }] });
  t.match(data.jobs[0], { progress: null, resumes: null });
  t.match(data.policies[0], { incremental: false });
});

t.test('a version 4 catalog from before settings.ignored reads with it empty, and keeps its globs', async (t) => {
  const home = await tmpDir(t);
  const v4 = { ...emptyCatalog(), settings: { discovery: ['/srv/vm/*.img'] } };
  await fs.writeFile(path.join(home, 'catalog.json'), JSON.stringify(v4));
  const data = await (await Catalog.open(home)).read();
  t.same(data.settings, { discovery: ['/srv/vm/*.img'], ignored: [], historyRetention: '400d' });
});

t.test('a corrupt catalog is described in one printable line: BOM and NULs named, control bytes escaped', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    [
      'a BOM',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(emptyCatalog()))]),
      /it starts with a byte order mark \(U\+FEFF, a UTF-8 BOM\)/,
    ],
    [
      'NUL bytes',
      Buffer.concat([Buffer.from('{"schemaVersion":'), Buffer.alloc(4096)]),
      /it holds NUL bytes, the first at byte 17/,
    ],
    [
      'an escape sequence',
      Buffer.from('{"a":\x1b[31m\r\n\u2028}'),
      /not valid JSON \(Unexpected token '\\x1b', "\{"a":\\x1b\[31m\\x0d\\x0a\\u2028\}" is not valid JSON\)/,
    ],
    [
      'a key with a newline',
      Buffer.from(JSON.stringify({ ...emptyCatalog(), volumes: [{ 'bad\nkey': 1 }] })),
      /volumes\.0\./,
    ],
  ];
  for (const [name, bytes, pattern] of cases) {
    const home = await tmpDir(t);
    await fs.writeFile(path.join(home, 'catalog.json'), bytes, { mode: 0o600 });
    const error = await errorOf(Catalog.open(home));
    isQrvErrorWith(t, error, 'catalog', 'catalog-corrupt');
    const message = (error as Error).message;
    t.match(message, pattern, name);
    t.notMatch(
      message,
      /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/,
      `${name}: no control or invisible character in the message`,
    );
    t.same(await fs.readFile(path.join(home, 'catalog.json')), bytes, `${name}: the file is untouched`);
  }
});
