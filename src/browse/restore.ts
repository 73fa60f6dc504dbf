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
// eslint-disable-next-line max-lines-per-function -- too long: to be split (issue 17)
export async function restorePath(
  reader: FilesystemReader,
  wanted: string,
  targetRoot: string,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const outcome: RestoreOutcome = { restored: [], skipped: [] };
  const typedWhy = unsafeTypedPath(wanted);
  if (typedWhy) {
    outcome.skipped.push({ path: wanted, reason: typedWhy });
    return outcome;
  }
  let top: Located;
  try {
    top = await reader.stat(wanted);
  } catch (error) {
    if (error instanceof QrvError && error.code === 'no-such-path') {
      outcome.skipped.push({ path: wanted, reason: error.message });
      return outcome;
    }
    throw error;
  }
  const root: Buffer = Buffer.from(targetRoot);
  const parts = splitRaw(top.rawPath);
  for (const part of parts) {
    const why = unsafeName(part);
    if (why) {
      outcome.skipped.push({ path: top.path, reason: why });
      return outcome;
    }
  }

  // Folders created on the way get the metadata of their folder in the copy, at the end.
  const created: Array<{ host: Buffer; entry: Located }> = [];
  let dir: Buffer = root;
  let sourceDir = '';
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    sourceDir = `${sourceDir}/${displayName(part)}`;
    const st = await lstatOrNull(dir);
    if (st === null) {
      await fs.mkdir(dir, { mode: 0o700 });
      created.push({ host: dir, entry: await reader.stat(sourceDir) });
    } else if (!st.isDirectory()) {
      outcome.skipped.push({
        path: top.path,
        reason: `${shown(dir)} in the target is ${describeInWay(st)}, not a folder: not followed`,
      });
      return outcome;
    }
  }
  const topHost = parts.length ? join(dir, parts.at(-1) as Buffer) : root;

  const entries: Located[] = [top];
  if (top.type === 'dir') for await (const entry of reader.walk(top.path)) entries.push(entry);

  // Folders not restored, by raw path (hex): what is below them is skipped with them, and counted.
  const blocked = new Map<string, { skipped: Skipped; count: number }>();
  const files: Array<{ entry: Located; host: Buffer }> = [];
  const hostOf = new Map<string, Buffer>([[top.rawPath.toString('hex'), topHost]]);

  const skip = (entry: Located, reason: string) => {
    const skipped = { path: entry.path, reason };
    outcome.skipped.push(skipped);
    if (entry.type === 'dir') blocked.set(entry.rawPath.toString('hex'), { skipped, count: 0 });
  };

  for (const entry of entries) {
    let host: Buffer<ArrayBufferLike>;
    if (entry === top) host = topHost;
    else {
      const cut = entry.rawPath.length - entry.rawName.length - 1;
      const parentKey = (cut > 0 ? entry.rawPath.subarray(0, cut) : SLASH).toString('hex');
      const blocker = blocked.get(parentKey);
      if (blocker) {
        blocker.count += 1;
        if (entry.type === 'dir') blocked.set(entry.rawPath.toString('hex'), blocker);
        continue;
      }
      const why = unsafeName(entry.rawName);
      if (why) {
        skip(entry, why);
        continue;
      }
      host = join(hostOf.get(parentKey) as Buffer, entry.rawName);
    }
    hostOf.set(entry.rawPath.toString('hex'), host);
    const st = host === root ? await fs.lstat(root) : await lstatOrNull(host);

    if (entry.type === 'dir') {
      if (st?.isDirectory()) continue; // merged into, its own mode, owner and times kept
      if (st) {
        if (!options.force) {
          skip(entry, `${describeInWay(st)} is in its place in the target (--force replaces it)`);
          continue;
        }
        await fs.unlink(host);
      }
      await fs.mkdir(host, { mode: 0o700 });
      created.push({ host, entry });
      outcome.restored.push({ path: entry.path, to: shown(host), type: 'dir', bytes: 0 });
      continue;
    }
    if (entry.type === 'char' || entry.type === 'block') {
      skip(entry, 'device node: not restored');
      continue;
    }
    if (entry.type !== 'file' && entry.type !== 'symlink') {
      skip(entry, `${entry.type}: not restored`);
      continue;
    }
    if (st?.isDirectory()) {
      skip(entry, 'a folder is in its place in the target');
      continue;
    }
    if (st && !options.force) {
      skip(entry, `exists in the target as ${describeInWay(st)} (--force replaces it)`);
      continue;
    }
    const held = st && options.protectedAs ? await options.protectedAs(st) : null;
    if (held) {
      skip(entry, `${held} is in its place in the target: never replaced`);
      continue;
    }
    if (entry.type === 'symlink') {
      const target = await reader.linkTarget(entry);
      if (target === null) {
        skip(entry, 'its target cannot be read');
        continue;
      }
      const temp = tempName(host.subarray(0, host.lastIndexOf(0x2f)));
      await fs.symlink(target, temp);
      try {
        await applyMeta(temp, entry, options);
        await fs.rename(temp, host);
      } catch (error) {
        await fs.unlink(temp).catch(() => undefined);
        throw error;
      }
      outcome.restored.push({ path: entry.path, to: shown(host), type: 'symlink', bytes: 0 });
      continue;
    }
    files.push({ entry, host });
  }

  // Files in rounds: staged in the target (same filesystem), given their metadata, renamed into place.
  if (files.length) {
    const staging = await fs.mkdtemp(path.join(targetRoot, '.qrv-restore-'));
    let done = 0;
    try {
      const roundFiles = options.roundFiles ?? 256;
      const roundBytes = options.roundBytes ?? 256 * 2 ** 20;
      for (let at = 0; at < files.length; ) {
        const round: typeof files = [];
        let bytes = 0;
        while (
          at < files.length &&
          round.length < roundFiles &&
          (round.length === 0 || bytes + (files[at] as (typeof files)[number]).entry.size <= roundBytes)
        ) {
          const next = files[at] as (typeof files)[number];
          round.push(next);
          bytes += next.entry.size;
          at += 1;
        }
        const staged = round.map((file, i) => Buffer.from(path.join(staging, String(at - round.length + i))));
        await reader.copyOut(
          round.map((file, i) => ({ entry: file.entry, to: staged[i] as Buffer })),
          staging,
        );
        for (const [i, file] of round.entries()) {
          const from = staged[i] as Buffer;
          await applyMeta(from, file.entry, options);
          // Checked again just before: something may have appeared since.
          const now = await lstatOrNull(file.host);
          const held = now && options.protectedAs ? await options.protectedAs(now) : null;
          if (now?.isDirectory() || (now && !options.force) || held) {
            outcome.skipped.push({
              path: file.entry.path,
              reason: now?.isDirectory()
                ? 'a folder is in its place in the target'
                : held
                  ? `${held} is in its place in the target: never replaced`
                  : `exists in the target as ${describeInWay(now as Stats)} (--force replaces it)`,
            });
            await fs.unlink(from);
            continue;
          }
          await fs.rename(from, file.host).catch(async (error: unknown) => {
            if (errnoCode(error) !== 'EXDEV') throw error;
            // Another filesystem is mounted inside the target: a temporary name next to it, then rename.
            const temp = tempName(file.host.subarray(0, file.host.lastIndexOf(0x2f)));
            await fs.copyFile(from, temp, fs.constants.COPYFILE_EXCL);
            await applyMeta(temp, file.entry, options);
            await fs.rename(temp, file.host);
            await fs.unlink(from);
          });
          outcome.restored.push({ path: file.entry.path, to: shown(file.host), type: 'file', bytes: file.entry.size });
          done += file.entry.size;
        }
        options.onBytes?.(done);
      }
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }

  // Folders made here: metadata last, deepest first, so that a read-only folder is filled before it closes.
  for (const { host, entry } of [...created].reverse()) await applyMeta(host, entry, options);
  for (const { skipped, count } of new Set(blocked.values()))
    if (count) skipped.reason += ` (and the ${count} entries below it)`;
  return outcome;
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
