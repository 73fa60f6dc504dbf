// Zero detection for sparse writes: a new file destination is all holes, so the copy engine
// leaves all-zero blocks unwritten. Each block is compared with a preallocated zero buffer by Buffer#compare, which is a memcmp in
// C++: it stops at the first non-zero byte, so random data costs almost nothing and an all-zero
// block costs one memcmp — no per-byte JavaScript.

export class ZeroDetector {
  private readonly zero: Buffer;

  constructor(readonly blockSize: number) {
    this.zero = Buffer.alloc(blockSize);
  }

  /** True when chunk[start, end) is all zero bytes (end - start ≤ blockSize). */
  isZero(chunk: Buffer, start: number, end: number): boolean {
    return this.zero.compare(chunk, start, end, 0, end - start) === 0;
  }
}
