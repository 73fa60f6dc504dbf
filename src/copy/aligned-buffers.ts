// Page-aligned I/O buffers. The kernel copies every read into and every write out of our buffer
// (copy_to_user / copy_from_user), and on the machines we measured that copy ran ≈ 1.8× slower
// when the user buffer was not page-aligned: Buffer.allocUnsafeSlow memory comes from malloc,
// which puts large blocks 16 bytes past a page boundary. A WebAssembly.Memory is allocated by
// V8 with whole pages, so views at multiples of 64 KiB into it are page-aligned.
// (Measurements: docs/PERFORMANCE.md, "Full copy".)

const WASM_PAGE = 64 * 1024;

/**
 * `count` non-overlapping buffers of `size` bytes each, page-aligned where the runtime allows
 * (falls back to ordinary Buffers when WebAssembly is unavailable, e.g. under --jitless).
 */
export function allocateAlignedBuffers(count: number, size: number): Buffer[] {
  const stride = Math.max(WASM_PAGE, Math.ceil(size / WASM_PAGE) * WASM_PAGE);
  const pages = (stride / WASM_PAGE) * count;
  let memory: ArrayBuffer | undefined;
  // wasm32 memories hold at most 65536 pages (4 GiB); beyond that use plain buffers.
  if (typeof WebAssembly === 'object' && pages <= 65536) {
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
    } catch {
      memory = undefined;
    }
  }
  const buffers: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    buffers.push(memory ? Buffer.from(memory, i * stride, size) : Buffer.allocUnsafeSlow(size));
  }
  return buffers;
}
