// Names and paths inside a browsed filesystem. Names are bytes; they are shown as UTF-8, and a
// name that is not valid UTF-8 shows each byte that is not printable ASCII as \xHH (as debugfs
// prints them), so that it stays on one line and can be typed back.
import { Buffer } from 'node:buffer';
import type { EntryType } from './types.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function displayName(raw: Buffer): string {
  try {
    const text = utf8.decode(raw);
    if (!/[\u0000-\u001f\u007f]/.test(text)) return text;
  } catch {
    // not UTF-8: escape below
  }
  let out = '';
  for (const byte of raw)
    out +=
      byte >= 32 && byte < 127 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

/** The components of a path typed by the user ("/etc//ssh/" → ["etc", "ssh"]); "." and ".." are kept for resolve(). */
export function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export function childRawPath(parent: Buffer, name: Buffer): Buffer {
  return parent.length === 1 && parent[0] === 0x2f
    ? Buffer.concat([parent, name])
    : Buffer.concat([parent, Buffer.from('/'), name]);
}

export function typeOfMode(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'unknown';
  }
}

/** `ls -l`'s mode column: "drwxr-xr-x", "-rwsr-xr-x", "lrwxrwxrwx", … */
export function modeString(mode: number): string {
  const kind: Record<EntryType, string> = {
    file: '-',
    dir: 'd',
    symlink: 'l',
    char: 'c',
    block: 'b',
    fifo: 'p',
    socket: 's',
    unknown: '?',
  };
  const bit = (mask: number, ch: string) => (mode & mask ? ch : '-');
  const exec = (x: number, special: number, on: string, off: string) =>
    mode & special ? (mode & x ? on : off) : bit(x, 'x');
  return (
    kind[typeOfMode(mode)] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}
