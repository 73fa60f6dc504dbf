// What every reader shares: finding a path (following symlinks inside the filesystem, never out of
// it), listing, walking and extracting, built on three primitives each access method provides:
// the root entry, the entries of directories, and a symlink's target bytes.
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { components, displayName } from './names.ts';
import type { ExtractResult, FilesystemReader, FsType, Located, Method } from './types.ts';

/** How many symlinks one path may pass through (Linux's limit). */
const MAX_HOPS = 40;

export abstract class BaseReader implements FilesystemReader {
  abstract readonly method: Method;
  readonly fsType: FsType;
  readonly source: string;
  /** how the source is named in messages: "s-1a2b3c4d5e6f" or a path */
  protected readonly label: string;

  constructor(fsType: FsType, source: string, label: string) {
    this.fsType = fsType;
    this.source = source;
    this.label = label;
  }

  protected abstract root(): Promise<Located>;
  /** The entries of each directory, in the same order. */
  protected abstract childrenOf(dirs: Located[]): Promise<Located[][]>;
  protected abstract targetOf(link: Located): Promise<Buffer | null>;
  /** Copies regular files out: each entry's bytes to its host path (which does not exist yet). */
  protected abstract copyFiles(pairs: Array<{ entry: Located; to: Buffer }>, hostDir: string): Promise<void>;
  abstract close(): Promise<void>;

  protected async children(dir: Located): Promise<Located[]> {
    return (await this.childrenOf([dir]))[0] ?? [];
  }

  protected noSuchPath(what: string, why: string): QrvError {
    return new QrvError(
      'notFound',
      'no-such-path',
      `${what} is not in ${this.label}${why ? ` (${why})` : ''}`,
      `list what is there with \`qrv ls ${this.label}:${path.posix.dirname(what)}\``,
    );
  }

  /** The entry at `wanted`; symlinks on the way are followed inside the filesystem, the last one only when `followLast`. */
  protected async resolve(wanted: string, followLast: boolean): Promise<Located> {
    const root = await this.root();
    let stack: Located[] = [root];
    let queue = components(wanted);
    let hops = 0;
    while (queue.length) {
      const part = queue.shift() as string;
      if (part === '.') continue;
      if (part === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack.at(-1) as Located;
      if (dir.type !== 'dir') throw this.noSuchPath(wanted, `${dir.path} is not a folder`);
      const child = (await this.children(dir)).find((entry) => entry.name === part);
      if (!child) throw this.noSuchPath(wanted, `no "${part}" in ${dir.path}`);
      if (child.type === 'symlink' && (queue.length > 0 || followLast)) {
        hops += 1;
        if (hops > MAX_HOPS) throw this.noSuchPath(wanted, 'too many levels of symbolic links');
        const target = await this.targetOf(child);
        if (target === null) throw this.noSuchPath(wanted, `the target of ${child.path} cannot be read`);
        const shown = displayName(target);
        if (shown.startsWith('/')) stack = [root];
        queue = [...components(shown), ...queue];
        continue;
      }
      stack.push(child);
    }
    return stack.at(-1) as Located;
  }

  async stat(wanted: string): Promise<Located> {
    return this.resolve(wanted, false);
  }

  async list(wanted: string): Promise<Located[]> {
    const dir = await this.resolve(wanted, true);
    if (dir.type !== 'dir')
      throw new QrvError(
        'usage',
        'not-a-folder',
        `${dir.path} in ${this.label} is a ${dir.type}, not a folder`,
        `\`qrv ls ${this.label}:${dir.path} --long\` shows it; list its folder with \`qrv ls ${this.label}:${path.posix.dirname(dir.path)}\``,
      );
    return this.children(dir);
  }

  async readlink(wanted: string): Promise<string | null> {
    const entry = await this.stat(wanted);
    if (entry.type !== 'symlink') return null;
    const target = await this.targetOf(entry);
    return target === null ? null : displayName(target);
  }

  async linkTarget(entry: Located): Promise<Buffer | null> {
    return entry.type === 'symlink' ? this.targetOf(entry) : null;
  }

  async copyOut(pairs: Array<{ entry: Located; to: Buffer }>, hostDir: string): Promise<void> {
    const files = pairs.filter(({ entry }) => entry.type === 'file');
    if (files.length !== pairs.length) throw new QrvError('bug', 'not-a-file', 'copyOut() copies regular files only');
    await this.copyFiles(files, path.resolve(hostDir));
  }

  /** Breadth first, one level of directories at a time (a reader can fetch a level at once). */
  async *walk(wanted = '/'): AsyncGenerator<Located> {
    const start = await this.resolve(wanted, true);
    if (start.type !== 'dir') return;
    let level: Located[] = [start];
    while (level.length) {
      const next: Located[] = [];
      for (let at = 0; at < level.length; at += 500) {
        const entries = (await this.childrenOf(level.slice(at, at + 500))).flat();
        for (const entry of entries) {
          yield entry;
          if (entry.type === 'dir') next.push(entry);
        }
      }
      level = next;
    }
  }

  async extract(wanted: string, hostDir: string): Promise<ExtractResult> {
    const top = await this.stat(wanted);
    const result: ExtractResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: [] };
    const base = Buffer.from(path.resolve(hostDir));
    const hostOf = (entry: Located): Buffer => {
      const below =
        top.rawPath.length === 1 ? entry.rawPath.subarray(1) : entry.rawPath.subarray(top.rawPath.length + 1);
      const name = top.rawPath.length === 1 ? Buffer.from('root') : top.rawName;
      return below.length
        ? Buffer.concat([base, Buffer.from('/'), name, Buffer.from('/'), below])
        : Buffer.concat([base, Buffer.from('/'), name]);
    };
    const entries: Located[] = [top];
    if (top.type === 'dir') for await (const entry of this.walk(top.path)) entries.push(entry);
    const files: Array<{ entry: Located; to: Buffer }> = [];
    for (const entry of entries) {
      const to = hostOf(entry);
      if (entry.type === 'dir') {
        await fs.mkdir(to, { mode: 0o700 });
        result.dirs += 1;
      } else if (entry.type === 'symlink') {
        const target = await this.targetOf(entry);
        if (target === null) result.skipped.push({ path: entry.path, why: 'its target cannot be read' });
        else {
          await fs.symlink(target, to);
          result.symlinks += 1;
        }
      } else if (entry.type === 'file') {
        files.push({ entry, to });
        result.files += 1;
        result.bytes += entry.size;
      } else
        result.skipped.push({ path: entry.path, why: `a ${entry.type} node: recreate it with mknod if you need it` });
    }
    await this.copyFiles(files, path.resolve(hostDir));
    // Modes, owners and times last, deepest first, so that a read-only folder is filled before it closes.
    const asRoot = process.getuid?.() === 0;
    for (const entry of [...entries].reverse()) {
      if (entry.type !== 'dir' && entry.type !== 'file' && entry.type !== 'symlink') continue;
      const to = hostOf(entry);
      if (result.skipped.some((s) => s.path === entry.path)) continue;
      if (asRoot) await fs.lchown(to, entry.uid, entry.gid);
      if (entry.type !== 'symlink') {
        await fs.chmod(to, entry.mode & 0o7777);
        await fs.utimes(to, new Date(entry.mtime), new Date(entry.mtime));
      } else await fs.lutimes(to, new Date(entry.mtime), new Date(entry.mtime));
    }
    return result;
  }
}
