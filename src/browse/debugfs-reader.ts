// Reading an ext2/3/4 image without root and without mounting it: e2fsprogs' debugfs in catalog
// mode (-c: opened read-only, bitmaps not even read). Every command addresses inodes by number
// (`<12>`), so no name ever has to be quoted; a batch of commands runs in one debugfs process
// (-f), and its output is cut per command by the echo debugfs prints before each.
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QrvError } from '../core/errors.ts';
import { tool } from '../system/tools.ts';
import { BaseReader } from './base-reader.ts';
import {
  debugfsComplaint,
  inodeFacts,
  parseInodeDump,
  parseLsLong,
  splitBatch,
  type InodeFacts,
} from './debugfs-parse.ts';
import { childPath, childRawPath, displayName, typeOfMode } from './names.ts';
import type { FsType, Located } from './types.ts';

const ROOT_INODE = 2;
/** Commands per debugfs process: bounded output, and few processes. */
const BATCH = 1000;

export class DebugfsReader extends BaseReader {
  readonly method = 'debugfs' as const;
  private work: string | null = null;
  private readonly targets = new Map<number, Buffer | null>();
  private rootEntry: Located | null = null;
  private readonly listed = new Map<number, Located[]>();

  constructor(fsType: FsType, source: string, label: string) {
    super(fsType, source, label);
  }

  /** Runs commands in one debugfs; the output of each (latin1: one char a byte), null where debugfs printed none. */
  async run(commands: string[], fixed: Array<number | undefined> = []): Promise<Array<string | null>> {
    if (!commands.length) return [];
    this.work ??= await fs.mkdtemp(path.join(os.tmpdir(), 'qrv-debugfs-'));
    const file = path.join(this.work, 'commands');
    await fs.writeFile(file, `${commands.join('\n')}\n`);
    const result = await tool('debugfs', ['-c', '-f', file, this.source], { encoding: 'latin1', env: { TZ: 'UTC' } });
    if (/while (trying to open|opening filesystem)|Filesystem not open/.test(result.stderr)) {
      throw new QrvError(
        'io',
        'debugfs-failed',
        `debugfs cannot open ${this.source} (${this.label}): ${debugfsComplaint(result.stderr)}`,
        'check that it is an intact ext2/3/4 filesystem: `e2fsck -fn` on a copy of it',
      );
    }
    return splitBatch(result.stdout, commands, fixed);
  }

  private async facts(inodes: number[]): Promise<Map<number, InodeFacts>> {
    const unique = [...new Set(inodes)];
    const found = new Map<number, InodeFacts>();
    for (let at = 0; at < unique.length; at += BATCH) {
      const chunk = unique.slice(at, at + BATCH);
      const outputs = await this.run(chunk.map((inode) => `inode_dump <${inode}>`));
      chunk.forEach((inode, i) => {
        const text = outputs[i];
        if (text) found.set(inode, inodeFacts(parseInodeDump(text)));
      });
    }
    return found;
  }

  private located(parent: Located | null, name: Buffer, inode: number, facts: InodeFacts): Located {
    const shown = displayName(name);
    const type = typeOfMode(facts.mode);
    const entry: Located = {
      name: parent ? shown : '/',
      path: parent ? childPath(parent.path, shown) : '/',
      type,
      size: facts.size,
      mode: facts.mode,
      uid: facts.uid,
      gid: facts.gid,
      mtime: new Date(facts.mtimeMs).toISOString(),
      inode,
      links: facts.links,
      rawName: parent ? name : Buffer.from('/'),
      rawPath: parent ? childRawPath(parent.rawPath, name) : Buffer.from('/'),
    };
    if (facts.rdev) entry.rdev = facts.rdev;
    if (type === 'symlink') {
      if (facts.inlineTarget) this.targets.set(inode, facts.inlineTarget);
      entry.target = null; // filled in by childrenOf
    }
    return entry;
  }

  protected async root(): Promise<Located> {
    if (this.rootEntry) return this.rootEntry;
    const facts = (await this.facts([ROOT_INODE])).get(ROOT_INODE);
    if (!facts)
      throw new QrvError(
        'io',
        'debugfs-failed',
        `debugfs cannot read the root folder of ${this.label} (${this.source})`,
        'check the filesystem with `e2fsck -fn` on a copy of it',
      );
    this.rootEntry = this.located(null, Buffer.from('/'), ROOT_INODE, facts);
    return this.rootEntry;
  }

  protected async childrenOf(dirs: Located[]): Promise<Located[][]> {
    // A snapshot or QRV does not change while it is read: a folder is listed once.
    const todo = dirs.filter((dir) => !this.listed.has(dir.inode));
    if (todo.length) {
      const fresh = await this.listFolders(todo);
      todo.forEach((dir, i) => this.listed.set(dir.inode, fresh[i] ?? []));
    }
    // Entries carry their path: the same folder reached by another path (a symlink on the way) gets its own.
    return dirs.map((dir) =>
      (this.listed.get(dir.inode) ?? []).map((entry) =>
        entry.path === childPath(dir.path, entry.name) ? entry : this.relocate(entry, dir),
      ),
    );
  }

  private relocate(entry: Located, dir: Located): Located {
    return { ...entry, path: childPath(dir.path, entry.name), rawPath: childRawPath(dir.rawPath, entry.rawName) };
  }

  private async listFolders(dirs: Located[]): Promise<Located[][]> {
    const listings: Array<ReturnType<typeof parseLsLong>> = [];
    for (let at = 0; at < dirs.length; at += BATCH) {
      const outputs = await this.run(dirs.slice(at, at + BATCH).map((dir) => `ls -l <${dir.inode}>`));
      for (const text of outputs) listings.push(parseLsLong(text ?? '').sort((a, b) => Buffer.compare(a.name, b.name)));
    }
    const facts = await this.facts(listings.flat().map((line) => line.inode));
    const result = dirs.map((dir, i) =>
      (listings[i] ?? []).map((line) => {
        // The listing's own facts stand in for an inode debugfs could not dump (it always can, on an intact filesystem).
        const known = facts.get(line.inode) ?? {
          mode: line.mode,
          uid: line.uid,
          gid: line.gid,
          size: line.size,
          links: 1,
          flags: 0,
          mtimeMs: 0,
          rdev: null,
          inlineTarget: null,
        };
        return this.located(dir, line.name, line.inode, known);
      }),
    );
    const links = result.flat().filter((entry) => entry.type === 'symlink');
    await this.loadTargets(links);
    for (const link of links) {
      const target = this.targets.get(link.inode) ?? null;
      link.target = target === null ? null : displayName(target);
    }
    return result;
  }

  /** Targets of symlinks too long to live in the inode: `cat` prints exactly size bytes. */
  private async loadTargets(links: Located[]): Promise<void> {
    const missing = [
      ...new Map(links.filter((l) => !this.targets.has(l.inode)).map((l) => [l.inode, l] as const)).values(),
    ];
    for (let at = 0; at < missing.length; at += BATCH) {
      const chunk = missing.slice(at, at + BATCH);
      const outputs = await this.run(
        chunk.map((link) => `cat <${link.inode}>`),
        chunk.map((link) => link.size),
      );
      chunk.forEach((link, i) => {
        const text = outputs[i];
        this.targets.set(
          link.inode,
          text !== null && text !== undefined && text.length === link.size ? Buffer.from(text, 'latin1') : null,
        );
      });
    }
  }

  protected async targetOf(link: Located): Promise<Buffer | null> {
    if (!this.targets.has(link.inode)) await this.loadTargets([link]);
    return this.targets.get(link.inode) ?? null;
  }

  /** `dump` each file to a plain name in a private folder in `hostDir`, then rename it into place (any bytes in its name). */
  protected async copyFiles(pairs: Array<{ entry: Located; to: Buffer }>, hostDir: string): Promise<void> {
    if (!pairs.length) return;
    const staging = await fs.mkdtemp(path.join(hostDir, '.qrv-extract-'));
    try {
      if (/[\n"]/.test(staging))
        throw new QrvError(
          'usage',
          'bad-extract-folder',
          `cannot extract into ${hostDir}: its path holds a newline or a double quote`,
          'choose another folder',
        );
      const uses = new Map<number, number>();
      for (const { entry } of pairs) uses.set(entry.inode, (uses.get(entry.inode) ?? 0) + 1);
      for (let at = 0; at < pairs.length; at += BATCH) {
        const chunk = pairs.slice(at, at + BATCH);
        const inodes = [...new Set(chunk.map(({ entry }) => entry.inode))];
        await this.run(inodes.map((inode) => `dump <${inode}> "${staging}/${inode}"`));
        for (const { entry, to } of chunk) {
          const staged = path.join(staging, String(entry.inode));
          const st = await fs.stat(staged).catch(() => null);
          if (!st || st.size !== entry.size)
            throw new QrvError(
              'io',
              'extract-failed',
              `debugfs could not dump ${entry.path} from ${this.label}`,
              'check the filesystem with `e2fsck -fn` on a copy of it',
            );
          // Hard links share an inode: every name but the last gets a copy.
          const left = (uses.get(entry.inode) ?? 1) - 1;
          uses.set(entry.inode, left);
          if (left > 0) await fs.copyFile(staged, to);
          else await fs.rename(staged, to);
        }
      }
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    const work = this.work;
    this.work = null;
    if (work) await fs.rm(work, { recursive: true, force: true });
  }
}
