// `qrv find`: glob patterns matched exactly as fast-glob matches them, whatever the reader. The
// folders the patterns start from are walked through the reader (debugfs fetches a whole level
// of folders per process), and fast-glob then runs over that tree through its `fs` option: the
// same code, options and matcher (micromatch) as on a real folder, but symlinks are never
// followed (an absolute symlink in a mounted copy would lead out of it, into the host).
import type { FileSystemAdapter } from 'fast-glob';
import { QrvError } from '../core/errors.ts';
import { compareText } from '../core/text.ts';
import { components } from './names.ts';
import type { FilesystemReader, Located } from './types.ts';

export interface FindOptions {
  /** match names starting with "." too (fast-glob's `dot`) */
  dot?: boolean;
}

/** A pattern relative to the filesystem's root ("/etc/**" and "etc/**" are the same). */
function relative(pattern: string): string {
  const negated = pattern.startsWith('!');
  const body = (negated ? pattern.slice(1) : pattern).replace(/^\/+/, '');
  return `${negated ? '!' : ''}${body}`;
}

type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

function statsOf(entry: Located) {
  return {
    isFile: () => entry.type === 'file',
    isDirectory: () => entry.type === 'dir',
    isSymbolicLink: () => entry.type === 'symlink',
    isBlockDevice: () => entry.type === 'block',
    isCharacterDevice: () => entry.type === 'char',
    isFIFO: () => entry.type === 'fifo',
    isSocket: () => entry.type === 'socket',
    size: entry.size,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtime: new Date(entry.mtime),
  };
}

function enoent(what: string): NodeJS.ErrnoException {
  const error = new Error(`ENOENT: no such file or directory, '${what}'`) as NodeJS.ErrnoException;
  error.code = 'ENOENT';
  return error;
}

/** The entries read, by path, and each folder's entries (only folders that were read have a list). */
interface Tree {
  byPath: Map<string, Located>;
  children: Map<string, Located[]>;
}

/** The tree below each of `bases` (folders the patterns start from), read once. */
async function readTree(reader: FilesystemReader, bases: string[]): Promise<Tree> {
  const byPath = new Map<string, Located>();
  const children = new Map<string, Located[]>();
  for (const base of bases) {
    let top: Located;
    try {
      top = await reader.stat(base);
    } catch (error) {
      if (error instanceof QrvError && error.code === 'no-such-path') continue; // nothing can match below it
      throw error;
    }
    byPath.set(top.path, top);
    if (top.type !== 'dir' || children.has(top.path)) continue;
    children.set(top.path, []);
    for await (const entry of reader.walk(top.path)) {
      byPath.set(entry.path, entry);
      const parent = entry.path.slice(0, entry.path.lastIndexOf('/')) || '/';
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent)?.push(entry);
      if (entry.type === 'dir' && !children.has(entry.path)) children.set(entry.path, []);
    }
  }
  return { byPath, children };
}

const keyOf = (p: string) => `/${components(p).join('/')}`;

/** fast-glob's `fs`, over the tree read: stat is lstat, so a symlink is never followed. */
function treeAdapter(tree: Tree): FileSystemAdapter {
  const lookup = (p: string) => tree.byPath.get(keyOf(p));
  const dirents = (p: string) => tree.children.get(keyOf(p))?.map((entry) => ({ name: entry.name, ...statsOf(entry) }));
  const adapter = {
    lstat: (p: string, callback: Callback<unknown>) => {
      const entry = lookup(p);
      entry ? callback(null, statsOf(entry)) : callback(enoent(p), undefined);
    },
    stat: (p: string, callback: Callback<unknown>) => adapter.lstat(p, callback),
    lstatSync: (p: string) => {
      const entry = lookup(p);
      if (!entry) throw enoent(p);
      return statsOf(entry);
    },
    statSync: (p: string) => adapter.lstatSync(p),
    readdir: (p: string, _options: unknown, callback: Callback<unknown>) => {
      const list = dirents(p);
      list ? callback(null, list) : callback(enoent(p), undefined);
    },
    readdirSync: (p: string) => {
      const list = dirents(p);
      if (!list) throw enoent(p);
      return list;
    },
  };
  return adapter as unknown as FileSystemAdapter;
}

/** Every entry matching any of `patterns` (fast-glob syntax, relative to the root), sorted by path. */
export async function findEntries(
  reader: FilesystemReader,
  patterns: string[],
  options: FindOptions = {},
): Promise<Located[]> {
  if (!patterns.length)
    throw new QrvError(
      'usage',
      'usage',
      'qrv find needs at least one pattern',
      "e.g. qrv find s-1a2b3c4d5e6f '**/*.conf'",
    );
  const wanted = patterns.map(relative);
  const { default: fg } = await import('fast-glob'); // loaded when a glob is read, not at every start
  const globOptions = {
    cwd: '/',
    dot: Boolean(options.dot),
    onlyFiles: false,
    followSymbolicLinks: false,
    unique: true,
  };
  const bases = [
    ...new Set(fg.generateTasks(wanted, globOptions).map((task) => (task.base === '.' ? '/' : `/${task.base}`))),
  ];
  const tree = await readTree(reader, bases);
  const found = await fg(wanted, { ...globOptions, fs: treeAdapter(tree) });
  return found
    .map((p) => tree.byPath.get(keyOf(p)))
    .filter((entry): entry is Located => entry !== undefined)
    .sort((a, b) => compareText(a.path, b.path));
}
