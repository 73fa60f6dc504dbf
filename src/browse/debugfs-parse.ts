// Parsers of what e2fsprogs' debugfs prints (tested on captured output, fixtures/debugfs/):
//
// - `ls -l DIR`: one line an entry, `INODE MODE (DIRENT-TYPE) UID GID SIZE D-Mon-YYYY HH:MM NAME`.
//   debugfs escapes every byte of a name below 32, from 127 up, and the backslash as `\xHH`
//   (print_filename in debugfs/ls.c), so a name is on one line and its bytes are exact. The time
//   has only minutes, so times come from the inode instead.
// - `inode_dump INODE`: the raw inode in hex, offsets in OCTAL, 16 bytes a line, `*` for lines
//   equal to the one before (like od). From it: mode, owner, size, mtime with nanoseconds and
//   the years after 2038, device numbers and a fast symlink's target, byte for byte.
// - `-f FILE` runs one command a line and echoes each as `debugfs: COMMAND` before its output, so a
//   batch of commands is cut into the outputs of each (splitBatch).
import { Buffer } from 'node:buffer';

export interface DirEntryLine {
  inode: number;
  /** st_mode as debugfs prints it (octal) */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** the name's bytes, exactly */
  name: Buffer;
}

const LS_LINE =
  /^\s*(\d+)\s+([0-7]+)\s+\((\d+)\)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d{1,2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2} (.*)$/;

/** The bytes of a name as debugfs printed it (`\xHH` escapes undone). */
export function unescapeName(printed: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < printed.length; ) {
    if (printed[i] === '\\' && printed[i + 1] === 'x' && /^[0-9a-f]{2}$/i.test(printed.slice(i + 2, i + 4))) {
      bytes.push(parseInt(printed.slice(i + 2, i + 4), 16));
      i += 4;
    } else {
      // everything else debugfs prints is printable ASCII (32–126); keep any other byte as it came
      bytes.push(printed.charCodeAt(i) & 0xff);
      i += 1;
    }
  }
  return Buffer.from(bytes);
}

/** Entries of `ls -l` output, without "." and "..". Lines that are not entries are ignored. */
export function parseLsLong(text: string): DirEntryLine[] {
  const entries: DirEntryLine[] = [];
  for (const line of text.split('\n')) {
    const match = LS_LINE.exec(line);
    if (!match) continue;
    const name = unescapeName(match[7] as string);
    if (name.equals(DOT) || name.equals(DOTDOT)) continue;
    entries.push({
      inode: Number(match[1]),
      mode: parseInt(match[2] as string, 8),
      uid: Number(match[4]),
      gid: Number(match[5]),
      size: Number(match[6]),
      name,
    });
  }
  return entries;
}
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** The raw inode from `inode_dump` output (as many bytes as the dump covers, normally 256). */
export function parseInodeDump(text: string): Buffer {
  const rows: Array<{ offset: number; bytes: Buffer } | '*'> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '*') rows.push('*');
    const match = /^([0-7]{4,})  ((?:[0-9a-f]{4} ){7}[0-9a-f]{4})/.exec(line);
    if (match)
      rows.push({
        offset: parseInt(match[1] as string, 8),
        bytes: Buffer.from((match[2] as string).replace(/ /g, ''), 'hex'),
      });
  }
  const last = [...rows].reverse().find((row) => row !== '*');
  if (!last) throw new Error('no inode_dump lines');
  // A trailing "*" repeats the last line up to the inode's end: 128 bytes, or 256 with extra fields.
  let end = last.offset + 16;
  if (rows.at(-1) === '*') end = end <= 128 ? 128 : Math.max(256, end);
  const inode = Buffer.alloc(end);
  let previous: { offset: number; bytes: Buffer } | null = null;
  let repeat = false;
  const fill = (until: number) => {
    if (repeat && previous)
      for (let at = previous.offset + 16; at + 16 <= until; at += 16) previous.bytes.copy(inode, at);
    repeat = false;
  };
  for (const row of rows) {
    if (row === '*') {
      repeat = true;
      continue;
    }
    fill(row.offset);
    row.bytes.copy(inode, row.offset);
    previous = row;
  }
  fill(end);
  return inode;
}

export interface InodeFacts {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  flags: number;
  /** modification time, milliseconds since the epoch (nanoseconds cut to milliseconds) */
  mtimeMs: number;
  /** block and character devices */
  rdev: { major: number; minor: number } | null;
  /** a symlink whose target is inside the inode (fast or inline); null for others */
  inlineTarget: Buffer | null;
}

const EXT4_EXTENTS_FL = 0x80000;
const EXT4_INLINE_DATA_FL = 0x10000000;
const S_IFMT = 0o170000;

/** The facts of a raw ext2/3/4 inode (struct ext4_inode, little-endian). */
export function inodeFacts(raw: Buffer): InodeFacts {
  const mode = raw.readUInt16LE(0);
  const uid = raw.readUInt16LE(2) | (raw.readUInt16LE(120) << 16);
  const gid = raw.readUInt16LE(24) | (raw.readUInt16LE(122) << 16);
  const size = raw.readUInt32LE(4) + raw.readUInt32LE(108) * 2 ** 32;
  const links = raw.readUInt16LE(26);
  const blocks = raw.readUInt32LE(28);
  const flags = raw.readUInt32LE(32);
  // Times: a signed 32-bit second; with extra fields, 2 more bits of seconds (epoch) and the nanoseconds.
  let seconds = raw.readInt32LE(16);
  let nanoseconds = 0;
  const extraSize = raw.length > 128 ? raw.readUInt16LE(128) : 0;
  if (extraSize >= 12) {
    const extra = raw.readUInt32LE(136);
    seconds += (extra & 3) * 2 ** 32;
    nanoseconds = extra >>> 2;
  }
  const type = mode & S_IFMT;
  let rdev: InodeFacts['rdev'] = null;
  if (type === 0o060000 || type === 0o020000) {
    const old = raw.readUInt32LE(40);
    const fresh = raw.readUInt32LE(44);
    rdev =
      old !== 0
        ? { major: (old >> 8) & 0xff, minor: old & 0xff }
        : { major: (fresh & 0xfff00) >> 8, minor: (fresh & 0xff) | ((fresh >> 12) & 0xfff00) };
  }
  let inlineTarget: Buffer | null = null;
  if (type === 0o120000) {
    const inline = (flags & EXT4_INLINE_DATA_FL) !== 0 && size <= 60;
    const fast = size < 60 && ((flags & EXT4_EXTENTS_FL) === 0 || blocks === 0) && (flags & EXT4_INLINE_DATA_FL) === 0;
    if (inline || fast) inlineTarget = Buffer.from(raw.subarray(40, 40 + size));
  }
  return {
    mode,
    uid,
    gid,
    size,
    links,
    flags,
    mtimeMs: seconds * 1000 + Math.floor(nanoseconds / 1e6),
    rdev,
    inlineTarget,
  };
}

/**
 * Cuts the stdout of `debugfs -f FILE` into the output of each command, found by the echo
 * `debugfs: COMMAND` that precedes it. `fixed[i]`, when given, is the number of bytes command i
 * prints (a `cat` of a symlink: no newline after it, and any bytes in it). Text is latin1 (one
 * char a byte), so byte counts hold. A command whose echo is missing gets null.
 */
export function splitBatch(
  stdout: string,
  commands: string[],
  fixed: Array<number | undefined> = [],
): Array<string | null> {
  const out: Array<string | null> = [];
  let at = 0;
  for (let i = 0; i < commands.length; i += 1) {
    const echo = `debugfs: ${commands[i]}\n`;
    const start = stdout.indexOf(echo, at);
    if (start < 0) {
      out.push(null);
      continue;
    }
    const begin = start + echo.length;
    const length = fixed[i];
    if (length !== undefined) {
      out.push(stdout.slice(begin, begin + length));
      at = begin + length;
      continue;
    }
    const next = i + 1 < commands.length ? stdout.indexOf(`debugfs: ${commands[i + 1]}\n`, begin) : -1;
    const end = next < 0 ? stdout.length : next;
    out.push(stdout.slice(begin, end));
    at = end;
  }
  return out;
}

/** The one line debugfs wrote to stderr that says what went wrong (not its version banner). */
export function debugfsComplaint(stderr: string): string {
  return (
    stderr
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !/^debugfs \d/.test(line))
      .shift() ?? ''
  );
}
