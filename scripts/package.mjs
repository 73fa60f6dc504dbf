// npm run package: dist/qrv, one executable file that runs every command on a Linux machine
// with no Node, npm or node_modules (issue 13). It is Node's single executable application: a
// copy of the node binary this script runs on, with the whole of qrv injected as one CommonJS
// bundle (Node 20 runs only CommonJS there, and `import()` of anything but a builtin fails, so
// everything the ESM build loads lazily — the Ink UI, the browser — is inside, evaluated only
// when used) and V8's code cache of it (compiled once here instead of at every start). The
// libraries of the UI and of S3 stores are assets of their own, compiled when first used
// (scripts/sea-parts.mjs).
// The same executable is its own guard program (qrv --qrv-guard, src/system/guard.ts). Then
// the Debian package of it, dist/qrv_<version>_amd64.deb (scripts/deb.mjs).
//
// QRV_PACKAGE_OUTDIR writes elsewhere than dist/. QRV_BUILD_PLAIN=1 (npm test) makes the
// executable alone, from an unminified bundle kept beside it as qrv.cjs with its source map: V8
// names the bundle by the path it was built at, and coverage maps it back to src/ through them.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
import { buildDeb } from './deb.mjs';
import { buildDefines, embedXxhashWasm, inkWithoutDevtools, stubDevtools, syncYoga } from './esbuild-plugins.mjs';
import { buildParts, fromParts } from './sea-parts.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outdir = path.resolve(root, process.env.QRV_PACKAGE_OUTDIR || 'dist');
const work = path.join(outdir, 'package-work');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const plain = process.env.QRV_BUILD_PLAIN === '1';
const bundle = path.join(plain ? outdir : work, 'qrv.cjs');
const options = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: !plain,
  keepNames: true,
  logLevel: 'warning',
  // import.meta is empty in CommonJS; the two modules that read it take another way in the
  // single executable (guard.ts: isSea(); xxh64-wasm.ts is replaced by embedXxhashWasm).
  logOverride: { 'empty-import-meta': 'silent' },
  plugins: [stubDevtools, embedXxhashWasm, syncYoga, inkWithoutDevtools],
  define: buildDefines(),
};
// the UI's and S3's libraries, beside the bundle and in the executable as assets (sea-parts.mjs)
const assets = await buildParts(path.dirname(bundle), options);
await build({
  ...options,
  entryPoints: [path.join(root, 'src/cli/main.ts')],
  outfile: bundle,
  sourcemap: plain ? 'linked' : false,
  plugins: [fromParts, ...options.plugins],
});

const blob = path.join(work, 'qrv.blob');
const config = path.join(work, 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });

// The executable is written beside and renamed into place: a qrv started meanwhile (cron) runs
// the old one or the new one, never half of one.
const target = path.join(outdir, 'qrv');
const partial = `${target}.partial`;
copyFileSync(process.execPath, partial);
chmodSync(partial, 0o755);
// Node's binary carries its symbols (13 MB here); stripped before the injection (after it, the
// blob's note is lost and the executable crashes).
execFileSync('strip', ['--strip-unneeded', partial]);
const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
execFileSync(
  process.execPath,
  [postject, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  // postject warns once per ELF note section it cannot name; they are harmless
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
renameSync(partial, target);
rmSync(work, { recursive: true, force: true });
console.log(`${path.relative(process.cwd(), target)}: the single executable (node ${process.versions.node})`);
if (plain) process.exit(0);
const deb = buildDeb(target, outdir);
console.log(`${path.relative(process.cwd(), deb)}: the Debian package`);
