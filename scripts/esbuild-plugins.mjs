// esbuild plugins shared by every bundle of qrv (scripts/build.mjs, scripts/package.mjs, bench/).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// Ink imports react-devtools-core only when DEV=true; a stub keeps the bundle self-contained.
export const stubDevtools = {
  name: 'stub-react-devtools-core',
  setup(b) {
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export default { initialize() {}, connectToDevTools() {} };',
      loader: 'js',
    }));
  },
};

// src/core/xxh64-wasm.ts reads xxhash-wasm's .wasm from node_modules; a bundle holds the bytes.
export const embedXxhashWasm = {
  name: 'embed-xxhash-wasm',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]core[\\/]xxh64-wasm\.ts$/ }, () => {
      const entry = createRequire(import.meta.url).resolve('xxhash-wasm');
      const wasm = readFileSync(path.join(path.dirname(entry), '..', 'workerd', 'xxhash.wasm'));
      return {
        contents: `const bytes = '${wasm.toString('base64')}';\nexport function xxhashWasmBytes() { return Buffer.from(bytes, 'base64'); }\n`,
        loader: 'js',
      };
    });
  },
};

/** esbuild `define`s of every bundle: QRV_BUILD (src/core/version.ts) and Ink's DEV off. */
export function buildDefines() {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  let commit = 'unknown'; // not a git checkout (a tarball of the sources)
  try {
    const git = (...args) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    commit = git('rev-parse', '--short=12', 'HEAD');
    if (git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'package.json', 'package-lock.json') !== '')
      commit += '-modified';
  } catch {
    // no git here: the commit is not known
  }
  return { QRV_BUILD: JSON.stringify({ version, commit }), 'process.env.DEV': '"false"' };
}

// yoga-layout (Ink's layout engine) loads its WebAssembly with a top-level await, which a
// CommonJS bundle (the single executable's) cannot hold. Its Emscripten loader takes an
// `instantiateWasm` hook: given one that compiles the module synchronously (the bytes are in the
// loader, a base64 data URL), the runtime is ready when the loader returns, and the module object
// it fills is what the awaited promise would have given. The build fails if the loader's shape
// is not the one this expects.
export const syncYoga = {
  name: 'sync-yoga',
  setup(b) {
    b.onLoad({ filter: /[\\/]yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/ }, (args) => {
      const original = readFileSync(args.path, 'utf8');
      if (!original.includes('const Yoga = wrapAssembly(await loadYoga());'))
        throw new Error(`${args.path} changed: scripts/esbuild-plugins.mjs (syncYoga) needs a look`);
      const loader = readFileSync(
        path.join(path.dirname(args.path), '..', 'binaries', 'yoga-wasm-base64-esm.js'),
        'utf8',
      );
      const wasm = /"data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(loader);
      if (!wasm || !loader.includes('h.instantiateWasm(d,'))
        throw new Error('yoga-layout loader changed: scripts/esbuild-plugins.mjs (syncYoga) needs a look');
      return {
        contents: `import loadYoga from '../binaries/yoga-wasm-base64-esm.js';
import wrapAssembly from './wrapAssembly.js';
const bytes = Buffer.from('${wasm[1]}', 'base64');
const module = {
  instantiateWasm(imports, done) {
    done(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports));
    return {};
  },
};
loadYoga(module);
if (!module.calledRun) throw new Error('yoga-layout did not start synchronously');
const Yoga = wrapAssembly(module);
export default Yoga;
export * from './generated/YGEnums.js';
`,
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

// Ink's reconciler awaits, at its top level, two things it does only with DEV=true (React
// DevTools, its own package.json for them); the single executable has DEV off
// (buildDefines) and no top-level await, so they go. The build fails if they moved.
export const inkWithoutDevtools = {
  name: 'ink-without-devtools',
  setup(b) {
    b.onLoad({ filter: /[\\/]ink[\\/]build[\\/]reconciler\.js$/ }, (args) => {
      const cuts = [
        ["await import('./devtools.js');", 'undefined;'],
        ['? await loadPackageJson()', '? undefined'],
      ];
      let contents = readFileSync(args.path, 'utf8');
      for (const [from, to] of cuts) {
        if (!contents.includes(from))
          throw new Error(`${args.path} changed: scripts/esbuild-plugins.mjs (inkWithoutDevtools) needs a look`);
        contents = contents.replace(from, to);
      }
      return { contents, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};
