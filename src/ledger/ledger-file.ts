// Reading a ledger file (ledger.ts): opened without following a link and checked, read at an
// offset over short reads, its body hashed as a stream.
import { Xxh64 } from '../core/xxh64.ts';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../core/errors.ts';
import { LEDGER_HEADER_BYTES, fileBytes, LedgerError } from './format.ts';

/**
 * Opens a ledger file for reading (or r+ for a resumed partial), never through a symlink (a ledger
 * beside its QRV may sit in a folder others can write): missing and unreadable are LedgerErrors.
 */
export async function openLedgerFile(path: string, flags: 'r' | 'r+'): Promise<FileHandle> {
  try {
    return await open(path, (flags === 'r' ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NOFOLLOW);
  } catch (error) {
    const missing = errnoCode(error) === 'ENOENT';
    throw new LedgerError(
      missing ? 'missing' : 'unreadable',
      missing ? `${path} does not exist` : `cannot open ${path}: ${errnoCode(error) ?? String(error)}`,
      { cause: error },
    );
  }
}

/** Reads up to `length` bytes at `position`, looping over short reads; returns how many came. */
export async function readAt(
  handle: FileHandle,
  target: Uint8Array,
  length: number,
  position: number,
  path: string,
): Promise<number> {
  let done = 0;
  try {
    while (done < length) {
      const { bytesRead } = await handle.read(target, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (error) {
    throw new LedgerError('unreadable', `cannot read ${path}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  return done;
}

/** Streams the first `blocks` hashes of the body through `hasher`, `piece` bytes at a time. */
export async function hashBody(
  handle: FileHandle,
  blocks: number,
  piece: Uint8Array,
  hasher: Xxh64,
  path: string,
): Promise<void> {
  const end = fileBytes(blocks);
  for (let at = LEDGER_HEADER_BYTES; at < end; ) {
    const length = Math.min(piece.length, end - at);
    const got = await readAt(handle, piece, length, at, path);
    if (got < length) throw new LedgerError('truncated', `${path} ends at byte ${at + got}, inside its hashes`);
    hasher.update(piece.subarray(0, length));
    at += length;
  }
}
