// The read layer's one interface: a filesystem inside a snapshot or QRV, read without changing
// anything. One implementation per access method (debugfs-reader.ts: e2fsprogs' debugfs in
// catalog mode, no root; mount-reader.ts: a read-only mount, root), chosen by openReader() in
// open.ts. `qrv ls` and `qrv find` use it; file-level recovery will use extract().
import type { Buffer } from 'node:buffer';

export type FsType = 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs';
export type Method = 'debugfs' | 'mount';
export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'unknown';

export interface FsEntry {
  /** the name as shown: the bytes as UTF-8, or with each byte that is not valid UTF-8 as \xHH */
  name: string;
  /** the absolute path inside the filesystem, in the same form ("/" for the root) */
  path: string;
  type: EntryType;
  size: number;
  /** st_mode: type and permission bits */
  mode: number;
  uid: number;
  gid: number;
  /** modification time, ISO (milliseconds) */
  mtime: string;
  inode: number;
  links: number;
  /** a symlink's target as shown (same form as names); null when it could not be read */
  target?: string | null;
  /** block and character devices */
  rdev?: { major: number; minor: number };
}

/** An entry with what its reader needs to reach it again (never printed). */
export interface Located extends FsEntry {
  /** the name's bytes, exactly */
  rawName: Buffer;
  /** the path's bytes, exactly, absolute in the filesystem */
  rawPath: Buffer;
}

export interface ExtractResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** what was not extracted, and why (device nodes, fifos, sockets) */
  skipped: Array<{ path: string; why: string }>;
}

export interface FilesystemReader {
  readonly method: Method;
  readonly fsType: FsType;
  /** the image file or block device read */
  readonly source: string;
  /** An entry by path; a symlink is not followed at the end of the path (like lstat). */
  stat(path: string): Promise<Located>;
  /** The entries of a directory (a symlink to a directory is followed, inside the filesystem). */
  list(path: string): Promise<Located[]>;
  /** Every entry under `path` (not `path` itself), parents before children; symlinks are not followed. */
  walk(path?: string): AsyncGenerator<Located>;
  readlink(path: string): Promise<string | null>;
  /** A symlink's target, the exact bytes (null when it cannot be read). Never followed. */
  linkTarget(entry: Located): Promise<Buffer | null>;
  /**
   * Copies the bytes of regular files (entries from stat/list/walk) to host paths that do not
   * exist yet, inside `hostDir` (where a reader may stage). Contents only: no modes, owners or times.
   */
  copyOut(pairs: Array<{ entry: Located; to: Buffer }>, hostDir: string): Promise<void>;
  /** Copies a file, symlink or whole tree to `hostDir/<its name>`, with modes and times (owners as root). */
  extract(path: string, hostDir: string): Promise<ExtractResult>;
  /** Lets go of the filesystem (unmounts); always safe to call again. */
  close(): Promise<void>;
}
