// One qrv copy in its own process, for bench/full-copy.ts: copies <src> to <dst> (an image file)
// with the engine's defaults and prints the CopyResult as JSON. With --verify it also runs
// checksumImage on the destination afterwards and fails if the checksums differ, as the CLI does.
// Tuning knobs for experiments (not used by the bench's reported runs unless set):
// QRV_BENCH_BUFFER (bytes), QRV_BENCH_DEPTH (buffers in rotation).
import { checksumImage, copyImage, type CopyOptions } from '../src/copy/block-copy.ts';

const [src, dst, size, ...flags] = process.argv.slice(2);
if (!src || !dst || !size) {
  console.error('usage: node --import tsx bench/copy-once.ts <src> <dst> <sizeBytes> [--verify]');
  process.exit(2);
}
const sizeBytes = Number(size);
const tuning: Partial<CopyOptions> = {};
if (process.env.QRV_BENCH_BUFFER) tuning.bufferSize = Number(process.env.QRV_BENCH_BUFFER);
if (process.env.QRV_BENCH_DEPTH) tuning.readDepth = Number(process.env.QRV_BENCH_DEPTH);

const result = await copyImage({ source: src, destination: dst, sizeBytes, destinationKind: 'file', ...tuning });
let verified: boolean | undefined;
if (flags.includes('--verify')) {
  verified = (await checksumImage(dst, sizeBytes)) === result.checksum;
  if (!verified) {
    console.error(`verify failed: ${dst} does not match ${result.checksum}`);
    process.exit(1);
  }
}
console.log(JSON.stringify({ ...result, verified }));
