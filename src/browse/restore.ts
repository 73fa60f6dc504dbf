// File-level recovery (F12): files, folders and symlinks from a FilesystemReader back into a host
// folder (a mounted volume, or --to), never writing outside it.
//
// Safety rules, each tested against hostile trees in real ext4 images (test/browse/restore.test.ts):
// - The place of an entry in the target is the target folder + its path in the copy, after the
//   read layer resolved it inside the copy: `..` in a typed path is refused, and symlinks in the
//   copy are never followed to decide where something goes, nor while reading it.
// - Every name from the copy is checked: ".", "..", "", names holding "/" or NUL, or longer than
//   255 bytes are refused.
// - The target is walked component by component with lstat: a symlink in the target on the way is
//   never followed (the item is skipped with the reason); a missing folder is created.
// - Symlinks are recreated verbatim (their targets are bytes, never resolved); device nodes,
//   fifos and sockets are skipped ("not restored"): Node has no mknod.
// - A file is written to a staging folder in the target, given its mode, owner (root only) and
//   times, then renamed into place: a crash never leaves half a file under the real name, and
//   --force replaces an existing file or symlink atomically (rename replaces the link itself, it
//   does not write through it). A folder that exists is merged into.
// - Hard links come back as separate files.
// Not guarded: someone swapping a folder of the target for a symlink while the restore runs
// (Node has no openat/renameat); restore into folders only root or you can change.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { QrvError, errnoCode } from '../core/errors.ts';
import { components, displayName } from './names.ts';
import type { EntryType, FilesystemReader, Located } from './types.ts';

export interface Restored {
  /** the path in the copy */
  path: string;
  /** where it was written (shown like names in the copy) */
  to: string;
  type: EntryType;
  bytes: number;
}

export interface Skipped {
  path: string;
  reason: string;
}

export interface RestoreOutcome {
  restored: Restored[];
  skipped: Skipped[];
}

export interface RestoreOptions {
  /** replace existing files and symlinks (folders are always merged into) */
  force: boolean;
  /** restore owners (chown): only root can */
  owners: boolean;
  /**
   * Says what of qrv's an existing entry in the target is (a snapshot, a QRV, a volume image…),
   * or null: such an entry is never replaced, not even with --force.
   */
  protectedAs?: (st: Stats) => Promise<string | null>;
  /** called with bytes copied so far by this call, after each group of files */
  onBytes?: (bytes: number) => void;
  /** files per staging round and bytes per round (a round is one debugfs process) */
  roundFiles?: number;
  roundBytes?: number;
}

const SLASH: Buffer = Buffer.from('/');
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** Why a name from the copy cannot be a name in the target, or null when it can. */
export function unsafeName(name: Buffer): string | null {
  if (name.length === 0) return 'an empty name';
  if (name.equals(DOT) || name.equals(DOTDOT)) return `the name "${displayName(name)}" points elsewhere: not restored`;
  if (name.includes(0x2f)) return 'a name holding "/": not restored';
  if (name.includes(0)) return 'a name holding a NUL byte: not restored';
  if (name.length > 255) return 'a name longer than 255 bytes: not restored';
  return null;
}

/** Why a path typed by the user is refused, or null. */
export function unsafeTypedPath(typed: string): string | null {
  if (components(typed).some((part) => part === '..')) return '".." in the path: name it inside the copy without ".."';
  return null;
}

function splitRaw(raw: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = 0; at <= raw.length; at += 1) {
    if (at === raw.length || raw[at] === 0x2f) {
      if (at > start) parts.push(raw.subarray(start, at));
      start = at + 1;
    }
  }
  return parts;
}

const join = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SLASH, name]);
const shown = (host: Buffer): string => displayName(host);
const lstatOrNull = (host: Buffer): Promise<Stats | null> =>
  fs.lstat(host).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  });
const tempName = (dir: Buffer): Buffer => join(dir, Buffer.from(`.qrv-restore-${randomBytes(6).toString('hex')}`));

function describeInWay(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a folder';
  if (st.isFile()) return 'a file';
  return 'a special file';
}

/** Mode, owner and times of an entry onto a host path (the path itself: a symlink is not followed). */
async function applyMeta(host: Buffer, entry: Located, options: RestoreOptions): Promise<void> {
  const time = new Date(entry.mtime);
  if (options.owners) await fs.lchown(host, entry.uid, entry.gid);
  if (entry.type === 'symlink') {
    await fs.lutimes(host, time, time);
    return;
  }
  // chmod after chown: chown clears setuid and setgid.
  await fs.chmod(host, entry.mode & 0o7777);
  await fs.utimes(host, time, time);
}

/**
 * Restores `wanted` (a file, symlink or folder tree in the copy) to `targetRoot` + its path in
 * the copy. `targetRoot` must be an existing folder (the caller resolved it); a staging folder is
 * made in it for the time of the call.
 */
export async function restorePath(
  reader: FilesystemReader,
  wanted: string,
  targetRoot: string,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const restoring = new Restoring(reader, targetRoot, options);
  const start = await restoring.start(wanted);
  if (start) {
    const entries: Located[] = [start.top];
    if (start.top.type === 'dir') for await (const entry of reader.walk(start.top.path)) entries.push(entry);
    for (const entry of entries) await restoring.place(entry, entry === start.top ? start.host : null);
    await restoring.copyFiles();
    await restoring.finish();
  }
  return restoring.outcome;
}

/** A file to copy out of the copy, and where it goes in the target. */
interface FileToCopy {
  entry: Located;
  host: Buffer;
}

/** One restorePath call: what it restored and skipped so far, and what is left to do. */
class Restoring {
  readonly outcome: RestoreOutcome = { restored: [], skipped: [] };
  private readonly root: Buffer;
  /** folders made here: they get the metadata of their folder in the copy, at the end */
  private readonly created: Array<{ host: Buffer; entry: Located }> = [];
  /** folders not restored, by raw path (hex): what is below them is skipped with them, and counted */
  private readonly blocked = new Map<string, { skipped: Skipped; count: number }>();
  /** where each entry placed so far is in the target, by raw path (hex) */
  private readonly hostOf = new Map<string, Buffer>();
  private readonly files: FileToCopy[] = [];

  constructor(
    private readonly reader: FilesystemReader,
    private readonly targetRoot: string,
    private readonly options: RestoreOptions,
  ) {
    this.root = Buffer.from(targetRoot);
  }

  /**
   * The entry `wanted` names and its place in the target, with the folders on the way made (or
   * null, with the reason in `outcome.skipped`: an unsafe name, not in the copy, something that
   * is not a folder on the way).
   */
  async start(wanted: string): Promise<{ top: Located; host: Buffer } | null> {
    const typedWhy = unsafeTypedPath(wanted);
    if (typedWhy) return this.refuse(wanted, typedWhy);
    let top: Located;
    try {
      top = await this.reader.stat(wanted);
    } catch (error) {
      if (error instanceof QrvError && error.code === 'no-such-path') return this.refuse(wanted, error.message);
      throw error;
    }
    const parts = splitRaw(top.rawPath);
    for (const part of parts) {
      const why = unsafeName(part);
      if (why) return this.refuse(top.path, why);
    }
    let dir: Buffer = this.root;
    let sourceDir = '';
    for (const part of parts.slice(0, -1)) {
      dir = join(dir, part);
      sourceDir = `${sourceDir}/${displayName(part)}`;
      const st = await lstatOrNull(dir);
      if (st === null) {
        await fs.mkdir(dir, { mode: 0o700 });
        this.created.push({ host: dir, entry: await this.reader.stat(sourceDir) });
      } else if (!st.isDirectory()) {
        return this.refuse(top.path, `${shown(dir)} in the target is ${describeInWay(st)}, not a folder: not followed`);
      }
    }
    const host = parts.length ? join(dir, parts.at(-1) as Buffer) : this.root;
    this.hostOf.set(top.rawPath.toString('hex'), host);
    return { top, host };
  }

  private refuse(path: string, reason: string): null {
    this.outcome.skipped.push({ path, reason });
    return null;
  }

  private skip(entry: Located, reason: string): void {
    const skipped = { path: entry.path, reason };
    this.outcome.skipped.push(skipped);
    if (entry.type === 'dir') this.blocked.set(entry.rawPath.toString('hex'), { skipped, count: 0 });
  }

  /** Where `entry` goes in the target, or null when it is skipped (with its folder, or for its name). */
  private hostFor(entry: Located): Buffer | null {
    const cut = entry.rawPath.length - entry.rawName.length - 1;
    const parentKey = (cut > 0 ? entry.rawPath.subarray(0, cut) : SLASH).toString('hex');
    const blocker = this.blocked.get(parentKey);
    if (blocker) {
      blocker.count += 1;
      if (entry.type === 'dir') this.blocked.set(entry.rawPath.toString('hex'), blocker);
      return null;
    }
    const why = unsafeName(entry.rawName);
    if (why) {
      this.skip(entry, why);
      return null;
    }
    return join(this.hostOf.get(parentKey) as Buffer, entry.rawName);
  }

  /**
   * Restores a folder or a symlink at once; a file is queued for copyFiles(). `topHost` is the
   * place of the entry restorePath was asked for (null for those below it).
   */
  async place(entry: Located, topHost: Buffer | null): Promise<void> {
    const host = topHost ?? this.hostFor(entry);
    if (host === null) return;
    this.hostOf.set(entry.rawPath.toString('hex'), host);
    const st = host === this.root ? await fs.lstat(this.root) : await lstatOrNull(host);
    if (entry.type === 'dir') return this.placeFolder(entry, host, st);
    const why = await this.whyNotReplaced(entry, st);
    if (why) return this.skip(entry, why);
    if (entry.type === 'symlink') return this.placeSymlink(entry, host);
    this.files.push({ entry, host });
  }

  private async placeFolder(entry: Located, host: Buffer, st: Stats | null): Promise<void> {
    if (st?.isDirectory()) return; // merged into, its own mode, owner and times kept
    if (st) {
      if (!this.options.force)
        return this.skip(entry, `${describeInWay(st)} is in its place in the target (--force replaces it)`);
      await fs.unlink(host);
    }
    await fs.mkdir(host, { mode: 0o700 });
    this.created.push({ host, entry });
    this.outcome.restored.push({ path: entry.path, to: shown(host), type: 'dir', bytes: 0 });
  }

  /** Why a file or symlink is not restored over `st` (what is in its place), or null. */
  private async whyNotReplaced(entry: Located, st: Stats | null): Promise<string | null> {
    if (entry.type === 'char' || entry.type === 'block') return 'device node: not restored';
    if (entry.type !== 'file' && entry.type !== 'symlink') return `${entry.type}: not restored`;
    if (st?.isDirectory()) return 'a folder is in its place in the target';
    if (st && !this.options.force) return `exists in the target as ${describeInWay(st)} (--force replaces it)`;
    const held = st && this.options.protectedAs ? await this.options.protectedAs(st) : null;
    return held ? `${held} is in its place in the target: never replaced` : null;
  }

  /** Why a staged file is not renamed over what is in its place now (it appeared meanwhile), or null. */
  private async whyNotNow(now: Stats): Promise<string | null> {
    if (now.isDirectory()) return 'a folder is in its place in the target';
    const held = this.options.protectedAs ? await this.options.protectedAs(now) : null;
    if (held) return `${held} is in its place in the target: never replaced`;
    return this.options.force ? null : `exists in the target as ${describeInWay(now)} (--force replaces it)`;
  }

  private async placeSymlink(entry: Located, host: Buffer): Promise<void> {
    const target = await this.reader.linkTarget(entry);
    if (target === null) return this.skip(entry, 'its target cannot be read');
    const temp = tempName(host.subarray(0, host.lastIndexOf(0x2f)));
    await fs.symlink(target, temp);
    try {
      await applyMeta(temp, entry, this.options);
      await fs.rename(temp, host);
    } catch (error) {
      await fs.unlink(temp).catch(() => undefined);
      throw error;
    }
    this.outcome.restored.push({ path: entry.path, to: shown(host), type: 'symlink', bytes: 0 });
  }

  /** Files in rounds: staged in the target (same filesystem), given their metadata, renamed into place. */
  async copyFiles(): Promise<void> {
    if (this.files.length === 0) return;
    const staging = await fs.mkdtemp(path.join(this.targetRoot, '.qrv-restore-'));
    let done = 0;
    try {
      for (let at = 0; at < this.files.length; ) {
        const round = this.nextRound(at);
        const staged = round.map((_file, i) => Buffer.from(path.join(staging, String(at + i))));
        at += round.length;
        await this.reader.copyOut(
          round.map((file, i) => ({ entry: file.entry, to: staged[i] as Buffer })),
          staging,
        );
        for (const [i, file] of round.entries()) done += await this.putInPlace(file, staged[i] as Buffer);
        this.options.onBytes?.(done);
      }
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  /** The files from `at` on that make one round (one debugfs process): a count and a byte limit. */
  private nextRound(at: number): FileToCopy[] {
    const roundFiles = this.options.roundFiles ?? 256;
    const roundBytes = this.options.roundBytes ?? 256 * 2 ** 20;
    const round: FileToCopy[] = [];
    let bytes = 0;
    for (let next = this.files[at]; next; next = this.files[at + round.length]) {
      if (round.length >= roundFiles || (round.length > 0 && bytes + next.entry.size > roundBytes)) break;
      round.push(next);
      bytes += next.entry.size;
    }
    return round;
  }

  /** Gives a staged file its metadata and renames it into place; returns the bytes restored (0 if skipped). */
  private async putInPlace(file: FileToCopy, from: Buffer): Promise<number> {
    await applyMeta(from, file.entry, this.options);
    // Checked again just before: something may have appeared since.
    const now = await lstatOrNull(file.host);
    const why = now ? await this.whyNotNow(now) : null;
    if (why) {
      this.outcome.skipped.push({ path: file.entry.path, reason: why });
      await fs.unlink(from);
      return 0;
    }
    await fs.rename(from, file.host).catch(async (error: unknown) => {
      if (errnoCode(error) !== 'EXDEV') throw error;
      // Another filesystem is mounted inside the target: a temporary name next to it, then rename.
      const temp = tempName(file.host.subarray(0, file.host.lastIndexOf(0x2f)));
      await fs.copyFile(from, temp, fs.constants.COPYFILE_EXCL);
      await applyMeta(temp, file.entry, this.options);
      await fs.rename(temp, file.host);
      await fs.unlink(from);
    });
    this.outcome.restored.push({ path: file.entry.path, to: shown(file.host), type: 'file', bytes: file.entry.size });
    return file.entry.size;
  }

  /** Folders made here get their metadata last, deepest first, so that a read-only folder is filled before it closes. */
  async finish(): Promise<void> {
    for (const { host, entry } of [...this.created].reverse()) await applyMeta(host, entry, this.options);
    for (const { skipped, count } of new Set(this.blocked.values()))
      if (count) skipped.reason += ` (and the ${count} entries below it)`;
  }
}

/** Bytes of regular files `wanted` would restore at most (for progress). */
export async function bytesUnder(reader: FilesystemReader, wanted: string): Promise<number> {
  const top = await reader.stat(wanted).catch(() => null);
  if (!top) return 0;
  if (top.type === 'file') return top.size;
  let total = 0;
  if (top.type === 'dir')
    for await (const entry of reader.walk(top.path)) if (entry.type === 'file') total += entry.size;
  return total;
}
