// Files of the home on real files: a planted link is never followed (temporary files have names
// nobody can guess and are created O_EXCL|O_NOFOLLOW; catalog.json and its lock are opened
// without following links), a catalog someone else could write is refused, and a write lands
// only over the version it was based on.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Catalog } from '../../src/catalog/store.ts';
import { writeFileAtomic } from '../../src/catalog/atomic-json-file.ts';
import { emptyCatalog } from '../../src/catalog/schema.ts';
import { QrvError } from '../../src/core/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const isRoot = process.getuid?.() === 0;

async function refusal(t: Test, promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof QrvError, `refused with a QrvError (got ${String(error)})`);
  t.match(error, { exit: 'catalog', code, message: pattern });
}

function addVolume(name: string) {
  return (data: ReturnType<typeof emptyCatalog>) => {
    data.volumes.push({
      name,
      provider: 'file',
      path: `/srv/${name}.img`,
      options: {},
      sizeBytes: 1,
      addedAt: '2026-01-01T00:00:00.000Z',
      policy: null,
      discovered: false,
    });
  };
}

t.test(
  'temporary files have unpredictable names: links planted under pid-style names are never followed',
  async (t) => {
    const dir = await tmpDir(t);
    const home = path.join(dir, 'home');
    const victim = path.join(dir, 'victim');
    await fs.writeFile(victim, 'precious\n', { mode: 0o600 });
    const catalog = await Catalog.open(home);
    // The names an older qrv used: .catalog.json.<pid>.tmp, for this process and its neighbours.
    for (let pid = process.pid - 50; pid <= process.pid + 50; pid += 1)
      await fs.symlink(victim, path.join(home, `.catalog.json.${pid}.tmp`));
    await catalog.update(addVolume('a'));
    await catalog.update(addVolume('b'));
    t.equal(await fs.readFile(victim, 'utf8'), 'precious\n', 'the victim is untouched');
    t.equal((await fs.stat(victim)).mode & 0o777, 0o600, 'and its mode too');
    t.same(
      (await catalog.read()).volumes.map((v) => v.name),
      ['a', 'b'],
      'the writes landed in catalog.json',
    );
    const names = (await fs.readdir(home)).filter(
      (n) => !n.startsWith('.catalog.json.') || !/^\.catalog\.json\.\d+\.tmp$/.test(n),
    );
    t.same(names.sort(), ['catalog.json', 'catalog.lock'], 'no temporary file of ours is left');
    t.ok(
      (await fs.lstat(path.join(home, `.catalog.json.${process.pid}.tmp`))).isSymbolicLink(),
      'the planted links are left as they were',
    );
  },
);

t.test('a temporary file left by a writer killed mid-write is removed by the next write, under the lock', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  const left = path.join(home, '.catalog.json.0123456789abcdef.tmp');
  await fs.writeFile(left, '{"half', { mode: 0o600 });
  await catalog.update(addVolume('a'));
  t.same((await fs.readdir(home)).sort(), ['catalog.json', 'catalog.lock']);
});

t.test('a temporary file is created exclusively and 0600 even with a permissive umask', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'f.json');
  const old = process.umask(0);
  try {
    await writeFileAtomic(file, '{}\n');
  } finally {
    process.umask(old);
  }
  t.equal((await fs.stat(file)).mode & 0o777, 0o600);
  t.same(await fs.readdir(dir), ['f.json']);
});

t.test('a symlinked catalog.json is refused, never read through nor replaced', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  const elsewhere = path.join(dir, 'elsewhere.json');
  await fs.writeFile(elsewhere, JSON.stringify(emptyCatalog()), { mode: 0o600 });
  await fs.symlink(elsewhere, path.join(home, 'catalog.json'));
  await refusal(t, Catalog.open(home), 'catalog-unsafe', /catalog\.json: it is a symbolic link/);
  t.ok((await fs.lstat(path.join(home, 'catalog.json'))).isSymbolicLink(), 'the link is still there');
  t.equal(await fs.readFile(elsewhere, 'utf8'), JSON.stringify(emptyCatalog()), 'its target is untouched');
});

t.test('a symlinked catalog.lock is refused and its target left alone', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  const catalog = await Catalog.open(home);
  const victim = path.join(dir, 'victim');
  await fs.writeFile(victim, 'precious\n');
  await fs.symlink(victim, path.join(home, 'catalog.lock'));
  await refusal(t, catalog.update(addVolume('a')), 'catalog-unsafe', /catalog\.lock: it is a symbolic link/);
  t.equal(await fs.readFile(victim, 'utf8'), 'precious\n');
  t.same(await fs.readdir(home), ['catalog.lock'], 'no catalog was written');
});

t.test('a catalog writable by others, or not a regular file, is refused', async (t) => {
  const dir = await tmpDir(t);
  const home = path.join(dir, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  const file = path.join(home, 'catalog.json');
  await fs.writeFile(file, JSON.stringify(emptyCatalog()));
  await fs.chmod(file, 0o666);
  await refusal(
    t,
    Catalog.open(home),
    'catalog-unsafe',
    /catalog\.json: it is writable by group and others \(mode 0666\)/,
  );
  await fs.chmod(file, 0o620);
  await refusal(t, Catalog.open(home), 'catalog-unsafe', /it is writable by its group \(mode 0620\)/);
  await fs.rm(file);
  await execa('mkfifo', ['-m', '600', file]);
  await refusal(t, Catalog.open(home), 'catalog-unsafe', /catalog\.json: it is not a regular file/);
});

t.test('a catalog owned by another user is refused', { skip: isRoot ? false : 'needs root to chown' }, async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  await fs.mkdir(home, { mode: 0o700 });
  const file = path.join(home, 'catalog.json');
  await fs.writeFile(file, JSON.stringify(emptyCatalog()), { mode: 0o600 });
  await fs.chown(file, 65534, 65534);
  await refusal(t, Catalog.open(home), 'catalog-unsafe', /it is owned by uid 65534, not by root/);
});

t.test('a write lands only over the version it was based on (compare before replace)', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  await catalog.update(addVolume('a'));
  const file = path.join(home, 'catalog.json');
  // Another writer that ignores the lock replaces the file while our change is being made.
  const foreign = `${JSON.stringify({ ...emptyCatalog(), volumes: [] })}\n`;
  const error = await catalog
    .update(async (data) => {
      addVolume('b')(data);
      await fs.writeFile(`${file}.other`, foreign, { mode: 0o600 });
      await fs.rename(`${file}.other`, file);
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.match(error, {
    exit: 'busy',
    code: 'catalog-changed',
    message: /was replaced by another process while this qrv held the lock; nothing was written/,
  });
  t.equal(await fs.readFile(file, 'utf8'), foreign, 'the other write was not overwritten');
  t.same((await fs.readdir(home)).sort(), ['catalog.json', 'catalog.lock'], 'no temporary file left');
});

t.test('a lock file replaced while held stops the write (the lock was compromised)', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  const catalog = await Catalog.open(home);
  await catalog.update(addVolume('a'));
  const before = await fs.readFile(catalog.file);
  const lock = path.join(home, 'catalog.lock');
  const error = await catalog
    .update(async (data) => {
      addVolume('b')(data);
      await fs.rm(lock);
      await fs.writeFile(lock, '', { mode: 0o600 });
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.match(error, {
    exit: 'busy',
    code: 'catalog-lock-lost',
    message: /was removed or replaced while this qrv held it; nothing was written/,
  });
  t.same(await fs.readFile(catalog.file), before, 'the catalog is unchanged');
});
