// Bundles src/cli/main.ts into dist/qrv.mjs, that bin/qrv runs, and what only the terminal UI
// needs (Ink, React, yoga) into chunks beside it that qrv imports when it draws: code in the main
// file costs every run memory and time even when it never runs (16 MiB of RSS and 30 ms for the
// UI, measured: V8 parses all of a file it loads). Native and optional modules stay outside the
// bundle (they are loaded from node_modules).
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

// Ink imports react-devtools-core only when DEV=true; a stub keeps the bundle self-contained.
const stubDevtools = {
  name: 'stub-react-devtools-core',
  setup(b) {
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export default { initialize() {}, connectToDevTools() {} };',
      loader: 'js',
    }));
  },
};

const result = await build({
  // The guard processes (src/system/guard-process.ts) run a small program of their own.
  entryPoints: { qrv: 'src/cli/main.ts', 'qrv-guard': 'src/system/guard-main.ts' },
  outdir: 'dist',
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
  // QRV_BUILD_PLAIN=1 leaves it unminified, for CPU profiles that name functions.
  minify: process.env.QRV_BUILD_PLAIN !== '1',
  keepNames: true,
  logLevel: 'warning',
  metafile: true,
  external: ['@node-rs/xxhash'],
  plugins: [stubDevtools],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
  },
  define: { 'process.env.DEV': '"false"' },
});

// Chunks of an earlier build (their names carry a hash) are removed once this one is written
// (not before: a qrv started meanwhile finds a whole build either way).
const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.basename(file)));
for (const name of readdirSync('dist'))
  if (name.startsWith('qrv') && !written.has(name)) rmSync(path.join('dist', name));
