// The read layer on real images: debugfs (no root) and read-only mounts (root lane), compared
// with the host folder the image was built from, with each other, and with fast-glob on that folder.
import t, { type Test } from 'tap';
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import fg from 'fast-glob';
import { classify, detectFilesystem } from '../../src/browse/detect.ts';
import { findEntries } from '../../src/browse/find.ts';
import { displayName, typeOfMode } from '../../src/browse/names.ts';
import { openReader, withReader } from '../../src/browse/open.ts';
import type { FilesystemReader, Located } from '../../src/browse/types.ts';
import { QrvError } from '../../src/core/errors.ts';
import { lane } from '../helpers/lanes.ts';
import { sparseFile, tmpDir } from '../helpers/tmp.ts';
import {
  BAD_NAME,
  LONG_NAME,
  LONG_TARGET,
  browseMounts,
  btrfsFromTree,
  ext4FromTree,
  makeTree,
  xfsFromTree,
} from '../helpers/browse-tree.ts';

interface Seen {
  path: string;
  type: string;
  size: number | null;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  target?: string | null;
}

/** What the host folder holds, in the reader's terms (directory sizes are the filesystem's business). */
async function hostEntries(tree: string): Promise<Seen[]> {
  const out: Seen[] = [];
  const visit = async (dir: Buffer, shown: string) => {
    const names = (await fs.readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare);
    for (const name of names) {
      const full = Buffer.concat([dir, Buffer.from('/'), name]);
      const st = await fs.lstat(full);
      const p = `${shown === '/' ? '' : shown}/${displayName(name)}`;
      const type = typeOfMode(st.mode);
      out.push({
        path: p,
        type,
        size: type === 'dir' ? null : st.size,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        ...(type === 'symlink' ? { target: displayName(await fs.readlink(full, { encoding: 'buffer' })) } : {}),
      });
      if (type === 'dir') await visit(full, p);
    }
  };
  await visit(Buffer.from(tree), '/');
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function seen(entries: Located[]): Seen[] {
  return entries
    .filter((e) => !e.path.startsWith('/lost+found'))
    .map((e) => ({
      path: e.path,
      type: e.type,
      size: e.type === 'dir' ? null : e.size,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: Math.floor(Date.parse(e.mtime) / 1000),
      ...(e.type === 'symlink' ? { target: e.target ?? null } : {}),
    }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

async function walkAll(reader: FilesystemReader): Promise<Located[]> {
  const all: Located[] = [];
  for await (const entry of reader.walk()) all.push(entry);
  return all;
}

const PATTERNS = [
  ['**/*.conf'],
  ['etc/**'],
  ['**'],
  ['*'],
  ['data/*.{bin,txt}', '!**/empty.txt'],
  ['**/ssh'],
  ['/etc/*'],
  ['nothing/**'],
  ['dir with space/*'],
];

/** Everything a reader must do on the tree, whatever its method. */
async function exercise(t: Test, reader: FilesystemReader, tree: string, dir: string): Promise<Located[]> {
  const all = await walkAll(reader);
  t.same(seen(all), await hostEntries(tree), `${reader.method}: walk() sees exactly what was put in`);
  t.ok(
    all.findIndex((e) => e.path === '/etc') < all.findIndex((e) => e.path === '/etc/ssh/sshd_config'),
    'parents before children',
  );

  const root = await reader.list('/');
  t.ok(
    root.some((e) => e.rawName.equals(BAD_NAME) && e.name === 'bad\\xff\\xfe.txt'),
    'a name that is not UTF-8: raw bytes kept, shown escaped',
  );
  t.ok(
    root.some((e) => e.name === LONG_NAME),
    '255-byte name',
  );
  t.ok(
    root.some((e) => e.name === 'new\\x0aline'),
    'a newline in a name, shown escaped',
  );
  t.same(
    (await reader.list('/etc')).map((e) => e.name),
    ['.hidden.conf', 'app.conf', 'ssh'],
  );
  t.same(
    (await reader.list('/etc-link')).map((e) => e.name),
    ['.hidden.conf', 'app.conf', 'ssh'],
    'a symlink to a folder is followed by list()',
  );
  t.same(await reader.list('/empty'), []);
  t.equal((await reader.stat('/etc-link/ssh/../app.conf')).path, '/etc/app.conf', 'symlinks and .. on the way');
  t.equal((await reader.stat('/link')).type, 'symlink', 'stat does not follow the last symlink');
  t.equal(await reader.readlink('/longlink'), LONG_TARGET, 'a target too long for the inode');
  t.equal(await reader.readlink('/dangling'), '/nonexistent target');
  t.equal(await reader.readlink('/etc/app.conf'), null);
  t.equal((await reader.stat('/bad\\xff\\xfe.txt')).size, 4, 'an escaped name can be typed back');
  t.equal((await reader.stat('/data/sparse.bin')).size, 2 ** 30);
  t.equal((await reader.stat('/etc/app.conf')).mtime, '2020-01-02T03:04:05.000Z');
  t.equal((await reader.stat('/etc/app.conf')).links, 2, 'hard link counted');
  await t.rejects(reader.stat('/etc/nope'), {
    code: 'no-such-path',
    exit: 'notFound',
    message: /\/etc\/nope is not in test \(no "nope" in \/etc\)/,
  });
  await t.rejects(reader.stat('/dangling/x'), { code: 'no-such-path' }, 'a dangling symlink leads nowhere');
  await t.rejects(reader.list('/etc/app.conf'), { code: 'not-a-folder' });
  await t.rejects(reader.stat('/etc/app.conf/x'), { code: 'no-such-path', message: /is not a folder/ });

  for (const patterns of PATTERNS) {
    for (const dot of [false, true]) {
      const want = (
        await fg(
          patterns.map((p) => p.replace(/^\//, '')),
          { cwd: tree, onlyFiles: false, followSymbolicLinks: false, dot },
        )
      )
        .map((p) => `/${p}`)
        .sort();
      const got = (await findEntries(reader, patterns, { dot })).map((e) => e.path);
      // fast-glob on the host sees the undecodable name as Node decodes it; compare the others.
      t.same(
        got.filter((p) => !p.includes('\\x') && !p.startsWith('/lost+found')),
        want.filter((p) => !p.includes('\ufffd') && !p.includes('\n')),
        `${reader.method}: find ${patterns.join(' ')}${dot ? ' --dot' : ''} = fast-glob on the folder`,
      );
    }
  }
  t.same(
    (await findEntries(reader, ['*.txt'])).map((e) => e.path),
    ['/bad\\xff\\xfe.txt', `/${LONG_NAME}`],
    'globs see escaped names',
  );
  t.same(
    (await findEntries(reader, ['etc-link/**', 'etc-link/*', 'link/*'])).map((e) => e.path),
    [],
    'a pattern that starts below a symlink finds nothing: the link is not followed',
  );
  t.same(
    (await findEntries(reader, ['etc-link', 'etc-link/**', 'etc/ssh/*'])).map((e) => e.path),
    ['/etc-link', '/etc/ssh/sshd_config'],
    'the link itself matches, as any entry does',
  );
  await t.rejects(findEntries(reader, []), {
    exit: 'usage',
    code: 'usage',
    message: 'qrv find needs at least one pattern',
    hint: "e.g. qrv find s-1a2b3c4d5e6f '**/*.conf'",
  });

  // extract: a tree and a single file, bytes, modes, times and symlinks as they were
  const out = path.join(dir, `out-${reader.method}`);
  await fs.mkdir(out);
  const got = await reader.extract('/etc', out);
  t.match(got, { files: 3, dirs: 2, symlinks: 0, skipped: [] });
  t.equal(await fs.readFile(path.join(out, 'etc/ssh/sshd_config'), 'utf8'), 'Port 22\n');
  t.equal((await fs.stat(path.join(out, 'etc/app.conf'))).mtime.toISOString(), '2020-01-02T03:04:05.000Z');
  await reader.extract('/data', out);
  t.equal((await fs.stat(path.join(out, 'data/a.bin'))).mode & 0o7777, 0o4755);
  t.same(await fs.readFile(path.join(out, 'data/a.bin')), Buffer.alloc(300_000, 7));
  t.equal((await fs.stat(path.join(out, 'data/sparse.bin'))).size, 2 ** 30);
  await reader.extract('/longlink', out);
  t.equal(await fs.readlink(path.join(out, 'longlink')), LONG_TARGET);
  await reader.extract('/bad\\xff\\xfe.txt', out);
  t.equal(
    await fs.readFile(Buffer.concat([Buffer.from(`${out}/`), BAD_NAME]), 'utf8'),
    'bad\n',
    'extracted under its own bytes',
  );
  t.same(
    (await fs.readdir(out)).filter((n) => n.startsWith('.qrv-extract-')),
    [],
    'no staging folder left',
  );
  return all;
}

t.test('detectFilesystem: the magic numbers of real filesystems, and what is not one', async (t) => {
  const dir = await tmpDir(t);
  const make = async (name: string, program: string, args: string[]) => {
    const image = path.join(dir, name);
    const handle = await fs.open(image, 'w');
    await handle.truncate(320 * 2 ** 20);
    await handle.close();
    await execa(program, [...args, image]);
    return image;
  };
  t.same(await detectFilesystem(await make('a.ext4', 'mkfs.ext4', ['-q', '-F'])), { fsType: 'ext4' });
  t.same(await detectFilesystem(await make('a.ext3', 'mkfs.ext3', ['-q', '-F'])), { fsType: 'ext3' });
  t.same(await detectFilesystem(await make('a.ext2', 'mkfs.ext2', ['-q', '-F'])), { fsType: 'ext2' });
  t.same(await detectFilesystem(await make('a.xfs', 'mkfs.xfs', ['-q', '-f'])), { fsType: 'xfs' });
  if (lane(t, 'btrfs detection', { tools: ['mkfs.btrfs'] }))
    t.same(await detectFilesystem(await make('a.btrfs', 'mkfs.btrfs', ['-q', '-f'])), { fsType: 'btrfs' });
  t.match(classify(Buffer.alloc(70_000)), { fsType: null, what: /all zeros/ });
  const mbr = Buffer.alloc(70_000);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  t.match(classify(mbr), { fsType: null, what: /partition table/ });
  t.match(classify(Buffer.from('hello')), { fsType: null, what: /no filesystem qrv knows/ });
});

t.test('debugfs reader (no root): everything, on an ext4 image made by mkfs.ext4 -d', async (t) => {
  const dir = await tmpDir(t);
  const tree = await makeTree(dir);
  const image = await ext4FromTree(dir, tree);
  const reader = await openReader(image, { label: 'test', via: 'debugfs', root: false });
  t.equal(reader.method, 'debugfs');
  t.equal(reader.fsType, 'ext4');
  try {
    await exercise(t, reader, tree, dir);
  } finally {
    await reader.close();
  }
  await reader.close(); // again: harmless
  t.same(
    (await fs.readdir(path.dirname(image))).filter((n) => n.startsWith('qrv-')),
    [],
  );
});

t.test('refusals: not a filesystem, XFS without root, a missing image', async (t) => {
  const dir = await tmpDir(t);
  const zeros = path.join(dir, 'zeros.img');
  await fs.writeFile(zeros, Buffer.alloc(1 << 20));
  await t.rejects(openReader(zeros, { label: 's-00000001' }), {
    code: 'unknown-filesystem',
    exit: 'refused',
    message: /s-00000001 \(.*zeros.img\) holds no filesystem qrv can read: all zeros/,
  });
  const xfs = await sparseFile(path.join(dir, 'x.img'), 320 * 2 ** 20);
  await execa('mkfs.xfs', ['-q', '-f', xfs]);
  await t.rejects(openReader(xfs, { label: 'q-00000001', root: false }), {
    code: 'needs-root-mount',
    exit: 'refused',
    message: /q-00000001 holds xfs; reading it needs a read-only mount, and only root can mount/,
  });
  await t.rejects(openReader(xfs, { label: 'q-00000001', via: 'debugfs' }), {
    code: 'needs-root-mount',
    message: /debugfs cannot read/,
  });
  await t.rejects(openReader(path.join(dir, 'gone.img'), { label: 's-00000002' }), {
    code: 'data-missing',
    exit: 'io',
  });
  await t.rejects(openReader(dir, { label: 's-00000003' }), {
    code: 'unknown-filesystem',
    message: /neither an image file nor a block device/,
  });
  const ext4 = await ext4FromTree(dir, await makeTree(dir));
  await t.rejects(openReader(ext4, { label: 'x', via: 'mount', root: false }), {
    code: 'needs-root-mount',
    message: /only root can mount/,
  });
});

t.test('read-only mounts (root lane): ext4 and XFS, nothing left mounted, also after a failure', async (t) => {
  if (!lane(t, 'read-only mount', { root: true, tools: ['mount', 'umount', 'mkfs.xfs', 'losetup'] })) return;
  const dir = await tmpDir(t);
  const tree = await makeTree(dir);
  const image = await ext4FromTree(dir, tree);
  const before = await fs.readFile(image);
  t.same(await browseMounts(), [], 'nothing mounted before');

  const viaDebugfs = await withReader(image, { label: 'test', via: 'debugfs' }, walkAll);
  const mounted = await openReader(image, { label: 'test' });
  t.equal(mounted.method, 'mount', 'root reads through a mount by default');
  t.equal((await browseMounts()).length, 1, 'mounted once');
  t.match((await browseMounts())[0], /\sext4\sro,/, 'read-only');
  let viaMount: Located[];
  try {
    viaMount = await exercise(t, mounted, tree, dir);
  } finally {
    await mounted.close();
  }
  const strip = (entries: Located[]) =>
    entries
      .map(({ rawName, rawPath, ...rest }) => ({
        ...rest,
        raw: rawPath.toString('hex'),
        name: rawName.toString('hex'),
      }))
      .sort((a, b) => (a.raw < b.raw ? -1 : 1));
  t.same(
    strip(viaMount),
    strip(viaDebugfs),
    'the mount and debugfs see the same entries, field for field (inodes, sizes of folders, devices, times)',
  );
  t.same(await browseMounts(), [], 'unmounted after close()');
  t.same(
    await fs.readFile(image),
    before,
    'the image is byte for byte unchanged (noload: the journal was not replayed)',
  );

  await t.rejects(
    withReader(image, { label: 'test' }, (reader) => reader.list('/no/such/folder')),
    { code: 'no-such-path' },
  );
  t.same(await browseMounts(), [], 'unmounted after a listing that failed');

  // an image that is mounted already is not mounted again
  const elsewhere = path.join(dir, 'elsewhere');
  await fs.mkdir(elsewhere);
  await execa('mount', ['-o', 'loop,ro,noload', image, elsewhere]);
  try {
    await t.rejects(openReader(image, { label: 's-00000009' }), {
      code: 'source-mounted',
      exit: 'refused',
      message: new RegExp(`s-00000009 .* is mounted at ${elsewhere}`),
    });
  } finally {
    await execa('umount', [elsewhere]);
  }

  const xfs = await xfsFromTree(dir, tree);
  const xfsReader = await openReader(xfs, { label: 'xfs' });
  try {
    t.equal(xfsReader.fsType, 'xfs');
    t.match((await browseMounts())[0], /\sxfs\sro,.*norecovery/, 'XFS: ro,norecovery');
    t.same(seen(await walkAll(xfsReader)), await hostEntries(tree), 'XFS: walk() sees exactly what was put in');
    t.same(
      (await findEntries(xfsReader, ['**/*.conf'])).map((e) => e.path),
      ['/data/hardlink.conf', '/etc/app.conf', '/ünïcødé.conf'],
    );
  } finally {
    await xfsReader.close();
  }
  t.same(await browseMounts(), [], 'XFS unmounted');
});

t.test('read-only mount of btrfs (root lane): everything put in is seen, nothing left mounted', async (t) => {
  if (!lane(t, 'btrfs mount', { root: true, tools: ['mount', 'umount', 'mkfs.btrfs', 'losetup'] })) return;
  const dir = await tmpDir(t);
  const tree = await makeTree(dir);
  const image = await btrfsFromTree(dir, tree);
  const before = await fs.readFile(image);
  await t.rejects(
    openReader(image, { label: 'q-0000000b', root: false }),
    { code: 'needs-root-mount', message: /q-0000000b holds btrfs/ },
    'not root: refused with the reason',
  );
  const reader = await openReader(image, { label: 'btrfs' });
  try {
    t.equal(reader.fsType, 'btrfs');
    t.equal(reader.method, 'mount');
    t.match((await browseMounts())[0], /\sbtrfs\sro[,\s]/, 'btrfs: mounted read-only');
    t.same(seen(await walkAll(reader)), await hostEntries(tree), 'btrfs: walk() sees exactly what was put in');
    t.same(
      (await findEntries(reader, ['**/*.conf'])).map((e) => e.path),
      ['/data/hardlink.conf', '/etc/app.conf', '/ünïcødé.conf'],
    );
  } finally {
    await reader.close();
  }
  t.same(await browseMounts(), [], 'btrfs unmounted');
  t.same(await fs.readFile(image), before, 'the image is byte for byte unchanged');
});

t.test('the mount guard (root lane): a qrv killed while it reads leaves nothing mounted', async (t) => {
  if (!lane(t, 'mount guard', { root: true, tools: ['mount', 'umount'] })) return;
  const dir = await tmpDir(t);
  const image = await ext4FromTree(dir, await makeTree(dir));
  for (const signal of ['SIGKILL', 'SIGINT'] as const) {
    const child = execa(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, '../helpers/browse-hold-mount.ts'), image],
      { reject: false },
    );
    const mountpoint = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (data: Buffer) => {
        const match = /mounted (\S+)/.exec(String(data));
        if (match) resolve(match[1] as string);
      });
      void child.then((r) => reject(new Error(`holder ended: ${r.stderr}`)));
    });
    t.equal((await browseMounts()).length, 1, `mounted by the holder (${signal} next)`);
    child.kill(signal);
    await child;
    let left = await browseMounts();
    for (let i = 0; i < 100 && left.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await browseMounts();
    }
    t.same(left, [], `${signal}: the guard unmounted it`);
    let folder = await fs.stat(mountpoint).catch(() => null);
    for (let i = 0; i < 50 && folder; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      folder = await fs.stat(mountpoint).catch(() => null);
    }
    t.notOk(folder, `${signal}: and removed the folder`);
  }
});
