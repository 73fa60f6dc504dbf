// Test volumes for the copy benchmarks, generated in bench/work/ (gitignored):
// "full" is written end to end with random data; "quarter" has random data in 25 % of its
// 1 MiB regions, chosen by a seeded generator so every run of the bench sees the same layout,
// and holes everywhere else. The incremental bench then rewrites a random share of a volume's
// blocks in place (changeBlocks); the memory bench fills a big volume with a repeated random
// pattern (makePatternVolume), which costs less CPU to generate than fresh random bytes.
import { randomFillSync } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

const MiB = 1024 * 1024;

/** mulberry32: a tiny seeded PRNG, enough to scatter regions reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills units `indexes` (of `unit` bytes; the last one may be short) of an open file with random data, then flushes. */
async function writeRandomUnits(
  handle: FileHandle,
  sizeBytes: number,
  unit: number,
  indexes: Iterable<number>,
): Promise<void> {
  const chunk = Buffer.allocUnsafe(unit);
  for (const index of indexes) {
    randomFillSync(chunk);
    await handle.write(chunk, 0, Math.min(unit, sizeBytes - index * unit), index * unit);
  }
  await handle.datasync();
}

async function writeVolume(path: string, sizeBytes: number, regions: Iterable<number>): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(sizeBytes);
    await writeRandomUnits(handle, sizeBytes, MiB, regions);
  } finally {
    await handle.close();
  }
}

/** A volume whose every byte is random data. */
export async function makeFullVolume(path: string, sizeBytes: number): Promise<void> {
  const count = Math.ceil(sizeBytes / MiB);
  await writeVolume(
    path,
    sizeBytes,
    Array.from({ length: count }, (_, i) => i),
  );
}

/** A volume with random data in `fraction` of its 1 MiB regions (scattered), holes elsewhere. */
export async function makeSparseVolume(path: string, sizeBytes: number, fraction: number, seed = 42): Promise<number> {
  const count = Math.ceil(sizeBytes / MiB);
  const regions = Array.from({ length: count }, (_, i) => i);
  const random = prng(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [regions[i], regions[j]] = [regions[j] as number, regions[i] as number];
  }
  const used = regions.slice(0, Math.round(count * fraction)).sort((a, b) => a - b);
  await writeVolume(path, sizeBytes, used);
  return used.length * MiB;
}

/**
 * Overwrites `fraction` of the volume's `blockSize` blocks, chosen at random (seeded, distinct),
 * with fresh random bytes, in place, and makes them durable. Returns the changed block numbers.
 */
export async function changeBlocks(
  path: string,
  sizeBytes: number,
  blockSize: number,
  fraction: number,
  seed = 7,
): Promise<number[]> {
  const blockCount = Math.ceil(sizeBytes / blockSize);
  const wanted = Math.max(1, Math.round(blockCount * fraction));
  const random = prng(seed);
  const chosen = new Set<number>();
  while (chosen.size < wanted) chosen.add(Math.floor(random() * blockCount));
  const blocks = [...chosen].sort((a, b) => a - b);
  const handle = await open(path, 'r+');
  try {
    await writeRandomUnits(handle, sizeBytes, blockSize, blocks);
  } finally {
    await handle.close();
  }
  return blocks;
}

/** A volume written end to end with one random `patternBytes` pattern, repeated. */
export async function makePatternVolume(path: string, sizeBytes: number, patternBytes = 64 * MiB): Promise<void> {
  const pattern = randomFillSync(Buffer.allocUnsafe(patternBytes));
  const handle = await open(path, 'w');
  try {
    for (let at = 0; at < sizeBytes; at += patternBytes) {
      const length = Math.min(patternBytes, sizeBytes - at);
      for (let done = 0; done < length; )
        done += (await handle.write(pattern, done, length - done, at + done)).bytesWritten;
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
