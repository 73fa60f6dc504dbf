// File-level recovery's path safety (src/browse/restore.ts) against hostile trees in real ext4
// images, read by debugfs (no root) and, in the root lane, through a read-only mount; restores
// compared byte for byte and by metadata with the tree the image was built from.
import t, { type Test } from 'tap';
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BaseReader } from '../../src/browse/base-reader.ts';
import { displayName, typeOfMode } from '../../src/browse/names.ts';
import { withReader, type Via } from '../../src/browse/open.ts';
import { restorePath, unsafeName, unsafeTypedPath } from '../../src/browse/restore.ts';
import type { Located } from '../../src/browse/types.ts';
import { BAD_NAME, ESCAPE_TARGET, LONG_NAME, ext4FromTree, makeHostileTree } from '../helpers/browse-tree.ts';
import { tmpDir } from '../helpers/tmp.ts';

const root = process.getuid?.() === 0;
const OPTIONS = { force: false, owners: root };

interface Meta {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  content?: string;
  target?: string;
}

/** Every entry under a host folder by relative path (raw names shown as the read layer shows them). */
async function snapshotOf(dir: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, Meta>> {
  const out = new Map<string, Meta>();
  const visit = async (host: Buffer, rel: string) => {
    for (const name of (await fs.readdir(host, { encoding: 'buffer' })).sort(Buffer.compare)) {
      const full = Buffer.concat([host, Buffer.from('/'), name]);
      const r = `${rel}/${displayName(name)}`;
      if (skip(r)) continue;
      const st = await fs.lstat(full);
      const type = typeOfMode(st.mode);
      const meta: Meta = {
        type,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        size: type === 'dir' ? 0 : st.size,
      };
      if (type === 'file') meta.content = (await fs.readFile(full)).toString('base64');
      if (type === 'symlink') meta.target = (await fs.readlink(full, { encoding: 'buffer' })).toString('hex');
      out.set(r, meta);
      if (type === 'dir') await visit(full, r);
    }
  };
  await visit(Buffer.from(dir), '');
  return out;
}

async function hostileImage(t: Test): Promise<{ dir: string; tree: string; image: string }> {
  const dir = await tmpDir(t);
  const tree = await makeHostileTree(dir);
  const image = await ext4FromTree(dir, tree, 'hostile');
  // The read-only folder would stop tmpDir's cleanup as non-root.
  t.teardown(() => fs.chmod(path.join(tree, 'ro'), 0o755).catch(() => undefined));
  return { dir, tree, image };
}

const vias: Via[] = root ? ['debugfs', 'mount'] : ['debugfs'];

for (const via of vias) {
  t.test(`${via}: the whole hostile tree into an empty folder: byte for byte, metadata, nothing outside`, async (t) => {
    const { dir, tree, image } = await hostileImage(t);
    const target = path.join(dir, 'target');
    await fs.mkdir(target);
    const outside = path.join(dir, 'outside-before');
    const outcome = await withReader(image, { label: 'test', via }, (reader) =>
      restorePath(reader, '/', target, OPTIONS),
    );
    t.teardown(() => fs.chmod(path.join(target, 'ro'), 0o755).catch(() => undefined));

    const want = await snapshotOf(tree);
    const got = await snapshotOf(target, (rel) => rel.startsWith('/lost+found'));
    const skippedPaths = outcome.skipped.map((s) => s.path).sort();
    t.same(skippedPaths, root ? ['/dev/fifo', '/dev/null'] : [], 'only the device node and the fifo are skipped');
    if (root) {
      t.match(
        outcome.skipped.find((s) => s.path === '/dev/null'),
        { reason: 'device node: not restored' },
      );
      t.match(
        outcome.skipped.find((s) => s.path === '/dev/fifo'),
        { reason: 'fifo: not restored' },
      );
    }
    for (const [rel, meta] of want) {
      if (rel === '/dev/null' || rel === '/dev/fifo') {
        t.notOk(got.has(rel), `${rel} not created`);
        continue;
      }
      const restored = got.get(rel);
      if (!restored) {
        t.fail(`${rel} missing`);
        continue;
      }
      // Owners: as root, exactly; otherwise the files are the restorer's.
      const expect = { ...meta, ...(root ? {} : { uid: process.getuid?.(), gid: process.getgid?.() }) };
      if (meta.type === 'symlink') {
        t.same(
          { type: restored.type, target: restored.target, uid: restored.uid },
          { type: 'symlink', target: meta.target, uid: expect.uid },
          `${rel}: the symlink itself, target verbatim`,
        );
      } else if (meta.type === 'dir') {
        t.same(
          { type: restored.type, mode: restored.mode, mtime: restored.mtime, uid: restored.uid, gid: restored.gid },
          { type: 'dir', mode: expect.mode, mtime: expect.mtime, uid: expect.uid, gid: expect.gid },
          `${rel}: folder mode, owner, time`,
        );
      } else t.same(restored, expect, `${rel}: bytes, mode, owner, time`);
    }
    t.same(
      [...got.keys()].filter((rel) => !want.has(rel)),
      [],
      'nothing else in the target (no staging left)',
    );
    t.equal(
      await fs.readlink(path.join(target, 'escape')),
      ESCAPE_TARGET,
      'the escaping symlink is kept as it was, not followed',
    );
    await t.rejects(fs.lstat('/tmp/qrv-escaped'), { code: 'ENOENT' }, 'nothing written where it points');
    t.equal((await fs.lstat(path.join(target, 'sub/hardlink.txt'))).nlink, 1, 'hard links come back as separate files');
    t.equal((await fs.stat(path.join(target, 'sub/setuid'))).mode & 0o7777, 0o4750, 'setuid kept');
    t.ok(
      await fs.readFile(Buffer.concat([Buffer.from(`${target}/`), BAD_NAME])),
      'a name that is not UTF-8, byte exact',
    );
    t.equal(await fs.readFile(path.join(target, LONG_NAME), 'utf8'), 'long\n', '255-byte name');
    const files = outcome.restored.filter((r) => r.type === 'file');
    t.match(
      outcome.restored.find((r) => r.path === '/sub/big.bin'),
      { to: path.join(target, 'sub/big.bin'), type: 'file', bytes: 3 * 2 ** 20 },
    );
    t.ok(files.length >= 7);
    void outside;
  });
}

t.test('symlinks in the copy: followed inside it to find a path, never to decide where it goes', async (t) => {
  const { dir, image } = await hostileImage(t);
  const target = path.join(dir, 'target');
  await fs.mkdir(target);
  await withReader(image, { label: 'test', via: 'debugfs' }, async (reader) => {
    const through = await restorePath(reader, '/rootlink/sub/deep/file.txt', target, OPTIONS);
    t.same(through.skipped, []);
    t.same(
      through.restored.map((r) => [r.path, r.to]),
      [['/sub/deep/file.txt', path.join(target, 'sub/deep/file.txt')]],
      'written at its real path in the copy',
    );
    t.equal(
      (await fs.stat(path.join(target, 'sub'))).mtime.toISOString(),
      '2021-03-04T05:06:07.000Z',
      'a folder created on the way gets the time of its folder in the copy',
    );

    const loop = await restorePath(reader, '/loop1/x', target, OPTIONS);
    t.match(
      loop.skipped,
      [{ path: '/loop1/x', reason: /too many levels of symbolic links/ }],
      'a symlink loop: skipped with the reason',
    );
    const link = await restorePath(reader, '/loop1', target, OPTIONS);
    t.same(
      link.restored.map((r) => r.type),
      ['symlink'],
      'the loop itself is restored as a symlink',
    );
    t.equal(await fs.readlink(path.join(target, 'loop1')), 'loop2');

    const abs = await restorePath(reader, '/abs', target, OPTIONS);
    t.same(
      abs.restored.map((r) => r.type),
      ['symlink'],
    );
    t.equal(await fs.readlink(path.join(target, 'abs')), '/etc/passwd', 'an absolute symlink is recreated verbatim');

    const dots = await restorePath(reader, '/sub/../../../etc/passwd', target, OPTIONS);
    t.match(dots, { restored: [], skipped: [{ reason: /"\.\." in the path/ }] }, '.. in a typed path is refused');
    const missing = await restorePath(reader, '/nope', target, OPTIONS);
    t.match(missing.skipped, [{ path: '/nope', reason: /\/nope is not in test/ }]);
  });
});

t.test('symlinks and files already in the target', async (t) => {
  const { dir, image } = await hostileImage(t);
  const target = path.join(dir, 'target');
  const outside = path.join(dir, 'outside');
  await fs.mkdir(target);
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'victim'), 'keep me\n');
  await withReader(image, { label: 'test', via: 'debugfs' }, async (reader) => {
    // A symlink on the way: never followed, with or without --force.
    await fs.symlink(outside, path.join(target, 'sub'));
    for (const force of [false, true]) {
      const r = await restorePath(reader, '/sub/deep/file.txt', target, { ...OPTIONS, force });
      t.match(
        r,
        {
          restored: [],
          skipped: [
            {
              path: '/sub/deep/file.txt',
              reason: /target\/sub in the target is a symlink, not a folder: not followed/,
            },
          ],
        },
        `force ${force}: refused`,
      );
    }
    const tree = await restorePath(reader, '/sub', target, OPTIONS);
    t.match(
      tree.skipped,
      [
        {
          path: '/sub',
          reason: /^a symlink is in its place in the target \(--force replaces it\) \(and the \d+ entries below it\)$/,
        },
      ],
      'a folder where a symlink is: skipped with everything below',
    );
    t.same(await fs.readdir(outside), ['victim'], 'nothing written through the symlink');
    const forced = await restorePath(reader, '/sub', target, { ...OPTIONS, force: true });
    t.same(forced.skipped, []);
    t.ok(
      (await fs.lstat(path.join(target, 'sub'))).isDirectory(),
      '--force: the symlink itself replaced by the folder',
    );
    t.same(await fs.readdir(outside), ['victim'], 'still nothing written outside');

    // A symlink at the file's own name, pointing outside: skipped; --force replaces the link, not what it points to.
    await fs.symlink(path.join(outside, 'victim'), path.join(target, 'abs-victim'));
    await fs.rm(path.join(target, 'sub/deep/file.txt'));
    await fs.symlink(path.join(outside, 'victim'), path.join(target, 'sub/deep/file.txt'));
    const kept = await restorePath(reader, '/sub/deep/file.txt', target, OPTIONS);
    t.match(kept.skipped, [{ reason: 'exists in the target as a symlink (--force replaces it)' }]);
    const replaced = await restorePath(reader, '/sub/deep/file.txt', target, { ...OPTIONS, force: true });
    t.same(replaced.skipped, []);
    t.equal(await fs.readFile(path.join(target, 'sub/deep/file.txt'), 'utf8'), 'deep\n');
    t.notOk((await fs.lstat(path.join(target, 'sub/deep/file.txt'))).isSymbolicLink());
    t.equal(
      await fs.readFile(path.join(outside, 'victim'), 'utf8'),
      'keep me\n',
      'the file the symlink pointed to is untouched',
    );

    // An existing file: kept without --force, replaced (atomically, by rename) with it; a folder in the way is never replaced.
    await fs.writeFile(path.join(target, 'sub/big.bin'), 'changed');
    const ino = (await fs.stat(path.join(target, 'sub/big.bin'))).ino;
    t.match((await restorePath(reader, '/sub/big.bin', target, OPTIONS)).skipped, [
      { path: '/sub/big.bin', reason: 'exists in the target as a file (--force replaces it)' },
    ]);
    t.equal(await fs.readFile(path.join(target, 'sub/big.bin'), 'utf8'), 'changed');
    await restorePath(reader, '/sub/big.bin', target, { ...OPTIONS, force: true });
    t.equal((await fs.stat(path.join(target, 'sub/big.bin'))).size, 3 * 2 ** 20);
    t.not((await fs.stat(path.join(target, 'sub/big.bin'))).ino, ino, 'a new file renamed over the old one');
    await fs.mkdir(path.join(target, 'owned-dir-in-way'));
    await fs.rm(path.join(target, 'sub/setuid'), { force: true });
    await fs.mkdir(path.join(target, 'sub/setuid'));
    t.match((await restorePath(reader, '/sub/setuid', target, { ...OPTIONS, force: true })).skipped, [
      { reason: 'a folder is in its place in the target' },
    ]);

    // A folder that exists is merged into: what is there stays.
    await fs.writeFile(path.join(target, 'sub/mine.txt'), 'mine');
    const merged = await restorePath(reader, '/sub', target, OPTIONS);
    t.equal(await fs.readFile(path.join(target, 'sub/mine.txt'), 'utf8'), 'mine');
    t.ok(
      merged.skipped.every((s) => /exists in the target|folder is in its place/.test(s.reason)),
      'only what exists is skipped',
    );
    t.same(
      (await fs.readdir(target)).filter((n) => n.startsWith('.qrv-restore-')),
      [],
      'no staging left',
    );
  });
});

/** A reader over an in-memory tree, to feed names no real filesystem tool will write. */
class FakeReader extends BaseReader {
  readonly method = 'debugfs' as const;
  constructor(private readonly names: Buffer[]) {
    super('ext4', '/fake', 'fake');
  }
  private entry(parent: Located | null, name: Buffer, type: 'dir' | 'file', inode: number): Located {
    const shown = displayName(name);
    return {
      name: parent ? shown : '/',
      path: parent ? `/${shown}` : '/',
      type,
      size: type === 'file' ? 3 : 0,
      mode: type === 'file' ? 0o100644 : 0o40755,
      uid: 0,
      gid: 0,
      mtime: '2020-01-01T00:00:00.000Z',
      inode,
      links: 1,
      rawName: name,
      rawPath: parent ? Buffer.concat([Buffer.from('/'), name]) : Buffer.from('/'),
    };
  }
  protected async root(): Promise<Located> {
    return this.entry(null, Buffer.from('/'), 'dir', 2);
  }
  protected async childrenOf(dirs: Located[]): Promise<Located[][]> {
    return dirs.map((dir) =>
      dir.inode === 2 ? this.names.map((name, i) => this.entry(dir, name, 'file', 100 + i)) : [],
    );
  }
  protected async targetOf(): Promise<Buffer | null> {
    return null;
  }
  protected async copyFiles(pairs: Array<{ entry: Located; to: Buffer }>): Promise<void> {
    for (const { to } of pairs) await fs.writeFile(to, 'abc');
  }
  async close(): Promise<void> {}
}

t.test('names from the copy that would point elsewhere are refused', async (t) => {
  t.equal(unsafeName(Buffer.from('ok name')), null);
  t.equal(unsafeName(BAD_NAME), null, 'not UTF-8 is fine');
  t.match(unsafeName(Buffer.from('..')), /points elsewhere/);
  t.match(unsafeName(Buffer.from('.')), /points elsewhere/);
  t.match(unsafeName(Buffer.from('a/../../b')), /holding "\/"/);
  t.match(unsafeName(Buffer.from('a\0b')), /NUL/);
  t.match(unsafeName(Buffer.alloc(256, 0x61)), /longer than 255/);
  t.match(unsafeName(Buffer.alloc(0)), /empty/);
  t.equal(unsafeTypedPath('/etc/../x'), '".." in the path: name it inside the copy without ".."');
  t.equal(unsafeTypedPath('/etc/./x'), null);

  const dir = await tmpDir(t);
  const target = path.join(dir, 'target');
  await fs.mkdir(target);
  const reader = new FakeReader([Buffer.from('..'), Buffer.from('../../escaped'), Buffer.from('fine')]);
  const outcome = await restorePath(reader, '/', target, OPTIONS);
  t.same(
    outcome.restored.map((r) => r.path),
    ['/fine'],
  );
  t.same(
    outcome.skipped.map((s) => s.path),
    ['/..', '/../../escaped'],
  );
  t.same((await fs.readdir(target)).sort(), ['fine']);
  await t.rejects(fs.lstat(path.join(dir, 'escaped')), { code: 'ENOENT' });
});
