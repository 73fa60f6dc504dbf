// How a chunk or a manifest is kept in a store. Every object starts with a 16-byte header:
//
//   "QRVa" | kind (1 chunk, 2 manifest, 3 segment, 4 pack index) | codec (0 stored, 1 brotli) | sealed (0, 1 AES-256-GCM)
//   | 0 | key id (8 bytes; zeros when not sealed)
//
// then the body: the content, compressed when that saves at least 3 % (brotli at quality 1, in
// Node's own zlib: ≈ 300 MB/s here, where deflate at level 1 managed 30); when sealed, a 12-byte
// random nonce, the ciphertext and the 16-byte tag, with the header and the object's name as
// additional data, so that an object moved under another name does not open.
//
// A chunk is named by the SHA-256 of its content (HMAC-SHA256 under the name key when sealed)
// and is checked against that name whenever it is read: a damaged chunk is never restored.
import { constants } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { QrvError } from '../core/errors.ts';
import type { ArchiveKey } from './key.ts';
import { MAX_CHUNK_SIZE, MAX_SEGMENT_LIST } from './layout.ts';

const MAGIC = Buffer.from('QRVa');
const HEADER = 16;
const NONCE = 12;
const TAG = 16;
export const OBJECT_KIND = { chunk: 1, manifest: 2, segment: 3, 'pack-index': 4 } as const;
export type ObjectKind = keyof typeof OBJECT_KIND;
/** What the header, a nonce and a tag add to an object's content, at most (a compressed body is the smaller). */
export const OBJECT_OVERHEAD = HEADER + NONCE + TAG;
/**
 * The most an object of each kind may hold, so that a store cannot make qrv inflate a few KiB into
 * gigabytes (a brotli bomb): a chunk, the largest chunk; a segment list, 1,024 chunks' places; a
 * manifest or a pack index, what one JavaScript string holds (JSON.parse could take no more).
 */
const MAX_CONTENT: Record<ObjectKind, number> = {
  chunk: MAX_CHUNK_SIZE,
  segment: MAX_SEGMENT_LIST,
  manifest: constants.MAX_STRING_LENGTH,
  'pack-index': constants.MAX_STRING_LENGTH,
};

const compress = promisify(zlib.brotliCompress);
const decompress = promisify(zlib.brotliDecompress);
// Output in one piece a little larger than the input (at most 1 MiB): zlib's default of 16 KiB
// made collecting a large object's output cost more than hashing it, and a fixed 1 MiB buffer for
// each 64 KiB chunk cut brotli's rate to a third (142 against 389 MiB/s on random data, measured).
const brotli = (length: number) => ({
  chunkSize: Math.min(1024 * 1024, Math.max(16 * 1024, length + 1024)),
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 },
});
/**
 * Objects up to this size are compressed and decompressed on the calling thread: for a 64 KiB
 * chunk, zlib's asynchronous call cost more than the compression itself (1,024 chunks of hex
 * text: 0.60 CPU s asynchronously, in no less wall time, against 0.39 s synchronously).
 */
const IN_LINE = 1024 * 1024;

const SAMPLE = 1024;

/**
 * Whether compressing `data` may pay: judged by the byte entropy of four 1 KiB samples spread over
 * it (random or already compressed data has close to 8 bits a byte, and never shrinks), so that
 * such data is not compressed in vain. Whether it did pay (3 %) is decided after compressing.
 */
export function worthCompressing(data: Uint8Array): boolean {
  if (data.length === 0) return false;
  if (data.length <= 4 * SAMPLE) return true;
  const counts = new Uint32Array(256);
  let n = 0;
  for (const eighth of [1, 3, 5, 7]) {
    const at = Math.floor((data.length * eighth) / 8);
    const end = Math.min(data.length, at + SAMPLE);
    for (let i = at; i < end; i++) counts[data[i]!]!++;
    n += end - at;
  }
  let bits = 0;
  for (const count of counts) if (count) bits -= (count / n) * Math.log2(count / n);
  return bits < 7.5;
}

/** The name of a chunk of `data`: hex SHA-256, or HMAC-SHA256 under the key's name key. */
export function chunkName(data: Uint8Array, key: ArchiveKey | null): string {
  return (key ? createHmac('sha256', key.name) : createHash('sha256')).update(data).digest('hex');
}

/**
 * The object for `data`: compressed when that pays, sealed with `key`, behind its header.
 * `tryCompressing` is what the caller judged already (a chunk by its segment's samples).
 */
export async function encodeObject(
  kind: ObjectKind,
  name: string,
  data: Uint8Array,
  key: ArchiveKey | null,
  tryCompressing?: boolean,
): Promise<Buffer> {
  const attempt = data.length > 0 && (tryCompressing ?? worthCompressing(data));
  const options = brotli(data.length);
  const packed = !attempt
    ? null
    : data.length <= IN_LINE
      ? zlib.brotliCompressSync(data, options)
      : await compress(data, options);
  const useBrotli = packed !== null && packed.length < data.length * 0.97;
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header[4] = OBJECT_KIND[kind];
  header[5] = useBrotli ? 1 : 0;
  header[6] = key ? 1 : 0;
  const body = useBrotli ? packed : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!key) return Buffer.concat([header, body]);
  key.id.copy(header, 8);
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key.encrypt, nonce);
  cipher.setAAD(Buffer.concat([header, Buffer.from(name)]));
  return Buffer.concat([header, nonce, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
}

export function corrupt(what: string, why: string): QrvError {
  return new QrvError(
    'verify',
    'archive-corrupt',
    `${what} in the archive store is damaged: ${why}`,
    'nothing was restored from it; recover from another generation, and run `qrv verify --deep` on the others',
  );
}

/** The key id an object was sealed with, or null when it is not sealed (or not an object of ours). */
export function sealedWith(object: Buffer): Buffer | null {
  return object.length >= HEADER && object.subarray(0, 4).equals(MAGIC) && object[6] === 1
    ? object.subarray(8, 16)
    : null;
}

/** The content of an object, opened with `key` when sealed; a damaged or foreign object throws. */
export async function decodeObject(
  kind: ObjectKind,
  name: string,
  object: Buffer,
  key: ArchiveKey | null,
  what: string,
): Promise<Buffer> {
  if (object.length < HEADER || !object.subarray(0, 4).equals(MAGIC)) throw corrupt(what, 'not an object qrv wrote');
  if (object[4] !== OBJECT_KIND[kind]) throw corrupt(what, `it is not a ${kind}`);
  const header = object.subarray(0, HEADER);
  let body = object.subarray(HEADER);
  if (object[6] === 1) {
    if (!key)
      throw new QrvError(
        'refused',
        'archive-key',
        `${what} is encrypted (key id ${header.subarray(8).toString('hex')})`,
        'pass --key with the key file it was archived with',
      );
    if (!header.subarray(8).equals(key.id))
      throw new QrvError(
        'refused',
        'archive-key',
        `${what} was encrypted with another key (id ${header.subarray(8).toString('hex')}, not ${key.id.toString('hex')})`,
        'pass --key with the key file it was archived with',
      );
    if (body.length < NONCE + TAG) throw corrupt(what, 'it is cut short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.encrypt, body.subarray(0, NONCE));
      decipher.setAAD(Buffer.concat([header, Buffer.from(name)]));
      decipher.setAuthTag(body.subarray(body.length - TAG));
      body = Buffer.concat([decipher.update(body.subarray(NONCE, body.length - TAG)), decipher.final()]);
    } catch {
      throw corrupt(what, 'it does not authenticate (AES-GCM)');
    }
  } else if (object[6] !== 0) throw corrupt(what, 'an unknown seal');
  if (object[5] !== 0 && object[5] !== 1) throw corrupt(what, 'an unknown compression');
  return object[5] === 0 ? within(body, MAX_CONTENT[kind], what) : inflate(body, MAX_CONTENT[kind], what);
}

function within(content: Buffer, limit: number, what: string): Buffer {
  if (content.length > limit) throw corrupt(what, `it holds more than ${limit} bytes`);
  return content;
}

/** The brotli `body` decompressed, never to more than `limit` bytes. */
async function inflate(body: Buffer, limit: number, what: string): Promise<Buffer> {
  const options = { maxOutputLength: limit };
  try {
    return body.length <= IN_LINE ? zlib.brotliDecompressSync(body, options) : await decompress(body, options);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw corrupt(what, `it decompresses to more than ${limit} bytes`);
    throw corrupt(what, 'it does not decompress');
  }
}

/** A chunk's content, checked against its name. */
export async function openChunk(name: string, object: Buffer, key: ArchiveKey | null): Promise<Buffer> {
  const what = `chunk ${name.slice(0, 16)}…`;
  const data = await decodeObject('chunk', name, object, key, what);
  if (chunkName(data, key) !== name) throw corrupt(what, 'its content does not match its hash');
  return data;
}
