// The format of the per-block hash ledger kept beside each QRV (reading and writing the files is
// in ledger.ts): one xxh64 (seed 0) per block of the replica
// image, so a later incremental copy can tell which blocks changed without reading the old
// replica (F3). Binary, not JSON: a 1 TiB image in 4 KiB blocks has 268 million hashes — 2 GiB
// as fixed 8-byte slots, several times that as text — and fixed slots let a reader seek straight
// to block N and stream the file in bounded memory. Layout (little-endian):
//   header, 128 bytes: magic "QRVLEDG1" · u32 version · u32 blockSize · u64 sizeBytes ·
//     u64 blockCount · algorithm[16] · snapshotId[32] · qrvId[32] (ASCII, NUL-padded) ·
//     u64 bodyChecksum (xxh64 of the body) · u64 headerChecksum (xxh64 of bytes 0..120)
//   body: blockCount × u64, the hash of each block (the last block may be short).
import { Xxh64, xxh64 } from '../core/xxh64.ts';
import { endianness } from 'node:os';
import { basename, join } from 'node:path';

export const LEDGER_HEADER_BYTES = 128;

const MAGIC = 'QRVLEDG1';
const VERSION = 1;
const ALGORITHM = 'xxh64';
export const HASH_BYTES = 8;
/** Reads, writes and the reader's window move at most this much: memory stays bounded. */
export const PIECE_BYTES = 1024 * 1024;
export const PIECE_HASHES = PIECE_BYTES / HASH_BYTES;
const LITTLE_ENDIAN = endianness() === 'LE';
/** Offset and length of each NUL-padded text field. */
const TEXT = { algorithm: [32, 16], snapshotId: [48, 32], qrvId: [80, 32] } as const;

export interface LedgerHeader {
  blockSize: number;
  sizeBytes: number;
  blockCount: number;
  algorithm: 'xxh64';
  snapshotId: string;
  qrvId: string;
  bodyChecksum: bigint;
}

/** What a writer is told; the rest follows from it or from the hashes. */
export type LedgerHeaderInput = Omit<LedgerHeader, 'bodyChecksum' | 'blockCount' | 'algorithm'>;

export type LedgerErrorReason =
  | 'missing'
  | 'unreadable'
  | 'bad-magic'
  | 'newer-version'
  | 'header-checksum'
  | 'truncated'
  | 'body-checksum'
  | 'mismatch';

/** A ledger that cannot be used: the caller falls back to a full copy (or reports it). */
export class LedgerError extends Error {
  constructor(
    readonly reason: LedgerErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LedgerError';
  }
}

/** Where a QRV's ledger lives: beside a file QRV, under the home for block-device QRVs. */
export function ledgerPathFor(
  qrv: { id: string; destination: string; destinationKind: 'file' | 'block' },
  home: string,
): string {
  if (qrv.destinationKind === 'file') return `${qrv.destination}.qrvledger`;
  if (qrv.id === '' || basename(qrv.id) !== qrv.id || qrv.id.startsWith('.'))
    throw new Error(`not a QRV id: ${JSON.stringify(qrv.id)}`);
  return join(home, 'ledgers', `${qrv.id}.qrvledger`);
}

/** Per-block hashes of a chunk whose first byte is block-aligned; the last block may be short. */
export function blockHashes(chunk: Uint8Array, blockSize: number): BigUint64Array {
  if (!Number.isSafeInteger(blockSize) || blockSize < 1)
    throw new RangeError(`block size must be a positive integer, not ${blockSize}`);
  const hashes = new BigUint64Array(Math.ceil(chunk.length / blockSize));
  for (let i = 0; i < hashes.length; i++) hashes[i] = xxh64(chunk.subarray(i * blockSize, (i + 1) * blockSize), 0n);
  return hashes;
}

/** The QRV's checksum string for a ledger: "xxh64-blocks:<16 lowercase hex>" of its bodyChecksum. */
export function ledgerChecksum(bodyChecksum: bigint): string {
  if (BigInt.asUintN(64, bodyChecksum) !== bodyChecksum) throw new RangeError(`not a 64-bit checksum: ${bodyChecksum}`);
  return `xxh64-blocks:${bodyChecksum.toString(16).padStart(16, '0')}`;
}

/**
 * The checksum of an image as the copy engine computes it ("xxh64-blocks:…"): the xxh64 of its
 * per-block hashes in order. The copy, `checksumImage`, archive sends and deep archive checks
 * all compute it with this.
 */
export class ImageChecksum {
  private readonly digest = new Xxh64(0n);

  /** Adds the next blocks' hashes (from blockHashes). */
  add(hashes: BigUint64Array): void {
    this.digest.update(new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength));
  }

  value(): string {
    return ledgerChecksum(this.digest.digest());
  }
}

function blockCountOf(sizeBytes: number, blockSize: number): number {
  return Math.ceil(sizeBytes / blockSize);
}

export function fileBytes(blockCount: number): number {
  return LEDGER_HEADER_BYTES + blockCount * HASH_BYTES;
}

/** On a big-endian machine, turns native u64s into the file's little-endian bytes (and back). */
export function toFileOrder(bytes: Uint8Array, length: number): void {
  if (!LITTLE_ENDIAN) Buffer.from(bytes.buffer, bytes.byteOffset, length).swap64();
}

/** A writer's header is a caller's bug if it does not fit the format. */
export function checkInput(header: LedgerHeaderInput): LedgerHeader {
  const { blockSize, sizeBytes, snapshotId, qrvId } = header;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 0xffff_ffff)
    throw new RangeError(`ledger block size must be 1..2^32-1, not ${blockSize}`);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0)
    throw new RangeError(`ledger size must be a non-negative integer, not ${sizeBytes}`);
  const blockCount = blockCountOf(sizeBytes, blockSize);
  if (!Number.isSafeInteger(fileBytes(blockCount)))
    throw new RangeError(`a ledger of ${blockCount} blocks is too large`);
  for (const [name, value] of [
    ['snapshotId', snapshotId],
    ['qrvId', qrvId],
  ] as const) {
    if (!/^[\x20-\x7e]{0,32}$/.test(value))
      throw new RangeError(`ledger ${name} must be printable ASCII of at most 32 bytes: ${JSON.stringify(value)}`);
  }
  return { blockSize, sizeBytes, blockCount, algorithm: ALGORITHM, snapshotId, qrvId, bodyChecksum: 0n };
}

/** The 128 header bytes; `seal` fills in the header checksum (a partial's header has none). */
export function encodeHeader(header: LedgerHeader, seal: boolean): Buffer {
  const bytes = Buffer.alloc(LEDGER_HEADER_BYTES);
  bytes.write(MAGIC, 0, 'ascii');
  bytes.writeUInt32LE(VERSION, 8);
  bytes.writeUInt32LE(header.blockSize, 12);
  bytes.writeBigUInt64LE(BigInt(header.sizeBytes), 16);
  bytes.writeBigUInt64LE(BigInt(header.blockCount), 24);
  for (const field of ['algorithm', 'snapshotId', 'qrvId'] as const)
    bytes.write(header[field], TEXT[field][0], TEXT[field][1], 'ascii');
  bytes.writeBigUInt64LE(header.bodyChecksum, 112);
  if (seal) bytes.writeBigUInt64LE(xxh64(bytes.subarray(0, 120), 0n), 120);
  return bytes;
}

/**
 * Validates and decodes a header of which `length` bytes could be read. The version is judged
 * before the header checksum: a newer format may lay its header out differently.
 */
export function decodeHeader(bytes: Buffer, length: number, path: string, sealed: boolean): LedgerHeader {
  const magicLength = Math.min(length, MAGIC.length);
  if (bytes.toString('latin1', 0, magicLength) !== MAGIC.slice(0, magicLength))
    throw new LedgerError('bad-magic', `${path} is not a qrv block ledger`);
  if (length >= 12) {
    const version = bytes.readUInt32LE(8);
    if (version > VERSION)
      throw new LedgerError(
        'newer-version',
        `${path} is a version ${version} ledger; this qrv reads version ${VERSION}`,
      );
    if (version < 1) throw new LedgerError('unreadable', `${path} has an invalid ledger version ${version}`);
  }
  if (length < LEDGER_HEADER_BYTES)
    throw new LedgerError(
      'truncated',
      `${path} ends after ${length} bytes, inside its ${LEDGER_HEADER_BYTES}-byte header`,
    );
  if (sealed && bytes.readBigUInt64LE(120) !== xxh64(bytes.subarray(0, 120), 0n))
    throw new LedgerError('header-checksum', `${path}: the ledger header does not match its checksum`);
  const text = (field: keyof typeof TEXT): string => {
    const [at, size] = TEXT[field];
    const value = bytes.toString('latin1', at, at + size).replace(/\0+$/, '');
    if (!/^[\x20-\x7e]*$/.test(value))
      throw new LedgerError('unreadable', `${path}: the ledger's ${field} is not ASCII text`);
    return value;
  };
  const blockSize = bytes.readUInt32LE(12);
  const sizeBig = bytes.readBigUInt64LE(16);
  const countBig = bytes.readBigUInt64LE(24);
  const algorithm = text('algorithm');
  const sizeBytes = Number(sizeBig);
  const blockCount = Number(countBig);
  if (
    blockSize < 1 ||
    sizeBig > BigInt(Number.MAX_SAFE_INTEGER) ||
    countBig !== BigInt(blockCountOf(sizeBytes, blockSize)) ||
    !Number.isSafeInteger(fileBytes(blockCount)) ||
    algorithm !== ALGORITHM
  ) {
    throw new LedgerError(
      'unreadable',
      `${path}: inconsistent ledger header (block size ${blockSize}, size ${sizeBig}, ${countBig} blocks, algorithm ${JSON.stringify(algorithm)})`,
    );
  }
  return {
    blockSize,
    sizeBytes,
    blockCount,
    algorithm: ALGORITHM,
    snapshotId: text('snapshotId'),
    qrvId: text('qrvId'),
    bodyChecksum: bytes.readBigUInt64LE(112),
  };
}
