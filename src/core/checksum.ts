// Hashing for copies and verification. xxh64 from @node-rs/xxhash runs at ≈ 18 GB/s streaming on
// this class of machine (docs/PERFORMANCE.md, shared notes), so hashing every byte of a copy costs
// far less than the I/O; a cryptographic hash would be the bottleneck. xxh64 detects corruption,
// not tampering — that is all a replica check needs.
import { Xxh64, xxh64 } from '@node-rs/xxhash';

/** Prefix of every whole-image checksum string, so a future algorithm change is visible. */
export const CHECKSUM_ALGORITHM = 'xxh64';

/** Formats a 64-bit hash value as the catalogue's "xxh64:<16 hex digits>" string. */
export function formatChecksum(value: bigint): string {
  return `${CHECKSUM_ALGORITHM}:${value.toString(16).padStart(16, '0')}`;
}

/**
 * Whole-image checksum, fed chunk by chunk as a copy or verify reads the image sequentially.
 * Exists so the copy engine can hash the bytes it already holds instead of reading twice.
 */
export class ImageHasher {
  private readonly state = new Xxh64(0n);
  private bytes = 0;

  /** Hashes `chunk` (only its bytes; pass a subarray for a partial buffer). */
  update(chunk: Uint8Array): this {
    this.state.update(chunk);
    this.bytes += chunk.length;
    return this;
  }

  /** Number of bytes hashed so far. */
  get bytesHashed(): number {
    return this.bytes;
  }

  /** "xxh64:<16 hex digits>". Does not reset; call once at the end. */
  digest(): string {
    return formatChecksum(this.state.digest());
  }
}

/** Factory form of ImageHasher, for callers that prefer not to use `new`. */
export function createImageHasher(): ImageHasher {
  return new ImageHasher();
}

/**
 * One-shot xxh64 (seed 0) of a single block. Exists for the per-block ledger, which stores one
 * 64-bit value per block so later copies and checks can tell which blocks changed.
 */
export function hashBlock(block: Uint8Array): bigint {
  return xxh64(block, 0n);
}
