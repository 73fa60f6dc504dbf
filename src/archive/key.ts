// The key of an encrypted archive (`--encrypt KEYFILE`): a file of at least 32 random bytes that
// only root (or this user) can read, e.g. made by `head -c 64 /dev/urandom > /root/qrv.key; chmod
// 600 /root/qrv.key`. Two keys are derived from it with HKDF-SHA256: one encrypts (AES-256-GCM),
// one names chunks (HMAC-SHA256 of their content, so that a store's names do not tell whether it
// holds a known piece of data). Its id (8 bytes, also derived) is written in every object it
// sealed, so a generation says which key opens it without giving anything of the key away.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import { hkdfSync } from 'node:crypto';
import { QrvError, errnoCode } from '../core/errors.ts';
import { notPrivateBecause } from '../core/private-mode.ts';

export interface ArchiveKey {
  /** the key file's path, for messages */
  file: string;
  /** 8 bytes, in every sealed object's header */
  id: Buffer;
  encrypt: Buffer;
  name: Buffer;
}

const derive = (secret: Buffer, info: string, length: number): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, Buffer.from('qrv archive key v1'), info, length));

export function keyFromSecret(file: string, secret: Buffer): ArchiveKey {
  return {
    file,
    id: derive(secret, 'id', 8),
    encrypt: derive(secret, 'encrypt', 32),
    name: derive(secret, 'name', 32),
  };
}

function badKey(file: string, why: string): QrvError {
  return new QrvError(
    'refused',
    'archive-key',
    `cannot use the archive key ${file}: ${why}`,
    'give a file of at least 32 random bytes that only its owner can read (head -c 64 /dev/urandom > FILE; chmod 600 FILE)',
  );
}

/** Reads the key file: a regular file, not a link, private to this user or root, ≥ 32 bytes. */
export async function loadKey(file: string): Promise<ArchiveKey> {
  let secret: Buffer;
  try {
    // O_NONBLOCK: a FIFO put where the key should be opens at once (and is refused as not a file)
    // instead of holding qrv until someone writes to it
    const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw badKey(file, 'it is not a regular file');
      const why =
        notPrivateBecause(st) ??
        (st.mode & 0o044 ? `others can read it (mode ${(st.mode & 0o777).toString(8)})` : null);
      if (why) throw badKey(file, why);
      secret = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof QrvError) throw error;
    throw badKey(file, errnoCode(error) === 'ELOOP' ? 'it is a symbolic link' : (errnoCode(error) ?? String(error)));
  }
  if (secret.length < 32) throw badKey(file, `it holds ${secret.length} bytes, fewer than 32`);
  return keyFromSecret(file, secret);
}
