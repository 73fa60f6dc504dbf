// Zero detection for sparse writes: splits a chunk into fixed-size blocks, finds the ones that are
// not all zero and merges adjacent ones into runs, so each run becomes a single write.
// Each block is compared with a preallocated zero buffer by Buffer#compare, which is a memcmp in
// C++: it stops at the first non-zero byte, so random data costs almost nothing and an all-zero
// block costs one memcmp — no per-byte JavaScript.

/** A half-open byte range [start, end) inside a chunk. */
export interface Run {
  start: number;
  end: number;
}

export class ZeroDetector {
  private readonly zero: Buffer;

  constructor(readonly blockSize: number) {
    this.zero = Buffer.alloc(blockSize);
  }

  /** True when chunk[start, end) is all zero bytes (end - start ≤ blockSize). */
  isZero(chunk: Buffer, start: number, end: number): boolean {
    return this.zero.compare(chunk, start, end, 0, end - start) === 0;
  }

  /**
   * The non-zero parts of `chunk` as merged runs of whole blocks (the last block may be short).
   * Block boundaries are relative to the chunk start, which callers keep block-aligned.
   */
  nonZeroRuns(chunk: Buffer): Run[] {
    const runs: Run[] = [];
    const { blockSize } = this;
    let runStart = -1;
    for (let offset = 0; offset < chunk.length; offset += blockSize) {
      const end = Math.min(offset + blockSize, chunk.length);
      if (this.isZero(chunk, offset, end)) {
        if (runStart >= 0) {
          runs.push({ start: runStart, end: offset });
          runStart = -1;
        }
      } else if (runStart < 0) {
        runStart = offset;
      }
    }
    if (runStart >= 0) runs.push({ start: runStart, end: chunk.length });
    return runs;
  }
}
