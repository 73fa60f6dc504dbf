// The single executable's parts (scripts/package.mjs): the libraries only some commands use —
// Ink and React for the terminal UI, the AWS SDK for S3 stores, 3.3 of the 5.1 MB of the
// unminified bundle — are kept out of its main bundle, each built into a CommonJS file of its own
// that goes into the executable as an asset (with V8's code cache of it) and is compiled the
// first time a module of qrv requires it. The ESM build (scripts/build.mjs) loads them lazily as
// chunks; the single executable could not: everything was in the one script every start loads,
// and V8 reads all of it (without a code cache, as when coverage is recorded, it parses it).
// Measured in the emulated VM lane, where the tests run it ~400 times recording coverage: a
// `qrv --json list` took 1.8 host CPU-s, now 1.5.
//
// In the main bundle, an import of one of these packages (from anywhere) becomes the package's
// exports as the part's file holds them; the part holds each package once, so qrv and the
// libraries inside share one React.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The parts, and the packages each holds. */
export const PARTS = {
  ui: ['ink', 'react', 'react/jsx-runtime'],
  s3: ['@aws-sdk/client-s3'],
};

/** The asset names of a part: its code and its code cache. */
export const partFile = (part) => `qrv-${part}.cjs`;
const cacheFile = (part) => `qrv-${part}.cache`;

// How a part's code is run: a function of module, exports and require, like a CommonJS module.
const WRAP = ['(function (module, exports, require) {', '\n})'];

// The loader, in the main bundle. In the single executable, the part's code and cache are its
// assets; run as a plain script (node qrv.cjs), the part's file is beside the bundle. A code
// cache made for other V8 flags (coverage) is rejected by V8, which then compiles the code.
const LOADER = `
const parts = {};
module.exports = function seaPart(name) {
  if (parts[name]) return parts[name];
  const sea = require('node:sea');
  const file = 'qrv-' + name + '.cjs';
  let code, cachedData;
  if (sea.isSea()) {
    code = sea.getAsset(file, 'utf8');
    cachedData = Buffer.from(sea.getAsset('qrv-' + name + '.cache'));
  } else code = require('node:fs').readFileSync(require('node:path').join(__dirname, file), 'utf8');
  const script = new (require('node:vm').Script)(${JSON.stringify(WRAP[0])} + code + ${JSON.stringify(WRAP[1])}, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module, module.exports, require);
  return (parts[name] = module.exports);
};
`;

/** The esbuild plugin of the main bundle: the parts' packages are taken from the parts. */
export const fromParts = {
  name: 'sea-parts',
  setup(b) {
    const partOf = new Map(Object.entries(PARTS).flatMap(([part, names]) => names.map((name) => [name, part])));
    const escaped = [...partOf.keys()].map((name) => name.replace(/[/.@-]/g, '\\$&'));
    b.onResolve({ filter: new RegExp(`^(${escaped.join('|')})$`) }, (args) => ({
      path: args.path,
      namespace: 'sea-part',
    }));
    b.onResolve({ filter: /^qrv-sea-part-loader$/ }, () => ({ path: 'loader', namespace: 'sea-part-loader' }));
    b.onLoad({ filter: /.*/, namespace: 'sea-part' }, (args) => ({
      contents: `module.exports = require('qrv-sea-part-loader')(${JSON.stringify(partOf.get(args.path))})[${JSON.stringify(args.path)}];`,
      loader: 'js',
    }));
    b.onLoad({ filter: /.*/, namespace: 'sea-part-loader' }, () => ({ contents: LOADER, loader: 'js' }));
  },
};

/**
 * Builds each part into `dir` with `options` (esbuild's, as for the main bundle) and makes its code
 * cache with this node, the one the executable is made of. Resolves the executable's assets.
 */
export async function buildParts(dir, options) {
  const assets = {};
  for (const [part, names] of Object.entries(PARTS)) {
    const file = path.join(dir, partFile(part));
    await build({
      ...options,
      stdin: {
        contents: `module.exports = {\n${names.map((name) => `  ${JSON.stringify(name)}: require(${JSON.stringify(name)}),`).join('\n')}\n};\n`,
        resolveDir: root,
        sourcefile: `${part}-part.js`,
        loader: 'js',
      },
      outfile: file,
      format: 'cjs',
    });
    const code = readFileSync(file, 'utf8');
    const cache = path.join(dir, cacheFile(part));
    writeFileSync(cache, new vm.Script(WRAP[0] + code + WRAP[1], { filename: partFile(part) }).createCachedData());
    assets[partFile(part)] = file;
    assets[cacheFile(part)] = cache;
  }
  return assets;
}
