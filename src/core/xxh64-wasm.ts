// The bytes of xxhash-wasm's WebAssembly module (xxh32/xxh64, 3 KB), read from the installed
// package. The builds (scripts/esbuild-plugins.mjs) replace this module by one that holds the
// bytes, so that dist/ and the single executable need no node_modules.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export function xxhashWasmBytes(): Uint8Array {
  // The package exports only its JavaScript; the .wasm file sits beside it (the workerd build's).
  // require.resolve, not import.meta.resolve: that one never returns under tap's module mocks.
  const entry = createRequire(import.meta.url).resolve('xxhash-wasm');
  return readFileSync(path.join(path.dirname(entry), '..', 'workerd', 'xxhash.wasm'));
}
