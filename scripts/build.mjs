// Bundles src/cli/main.ts into dist/qrv.mjs, that bin/qrv runs, and what only the terminal UI
// needs (Ink, React, yoga) into chunks beside it that qrv imports when it draws: code in the main
// file costs every run memory and time even when it never runs (16 MiB of RSS and 30 ms for the
// UI, measured: V8 parses all of a file it loads). Everything is inside: dist/ needs no
// node_modules (xxhash's WebAssembly is embedded, scripts/esbuild-plugins.mjs).
//
// QRV_BUILD_PLAIN=1 leaves the code unminified: `npm test` runs that build, because coverage maps
// V8's byte ranges back to src/ through the source map, and a minified line holds hundreds of
// statements (a test that runs one of them marks them all run). test/scripts/build.test.ts runs
// the minified build as shipped. QRV_BUILD_OUTDIR writes elsewhere than dist/.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { buildDefines, embedXxhashWasm, stubDevtools } from './esbuild-plugins.mjs';

const outdir = process.env.QRV_BUILD_OUTDIR || 'dist';
const result = await build({
  // The guard processes (src/system/guard-process.ts) run a small program of their own.
  entryPoints: { qrv: 'src/cli/main.ts', 'qrv-guard': 'src/system/guard-main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'qrv-[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Minified, a start of qrv parses half the text (0.24 → 0.20 s here, 3.8 → 3.5 s in the
  // emulated VM lane); names are kept for error classes and stack traces (the map is linked).
  // Unminified (QRV_BUILD_PLAIN=1) for coverage and for CPU profiles that name functions.
  minify: process.env.QRV_BUILD_PLAIN !== '1',
  keepNames: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [stubDevtools, embedXxhashWasm],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
  },
  define: buildDefines(),
});

// Chunks of an earlier build (their names carry a hash) are removed once this one is written
// (not before: a qrv started meanwhile finds a whole build either way).
const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.basename(file)));
for (const name of readdirSync(outdir))
  if (/^qrv.*\.mjs(\.map)?$/.test(name) && !written.has(name)) rmSync(path.join(outdir, name));
