// The VM lane's TypeScript files (test/vm/lane/vm-*-contract.ts), bundled on the host for `node`
// inside the VM: one JavaScript file with tap, the provider code and the contract in it, and the
// guard program beside it, both from the current sources. Run there with `node --import tsx`
// instead, tsx transpiled and loaded several hundred files over 9p under emulation: 41 s before
// the first assertion (measured: `vm-dm-contract.ts` with no disk, so that it stops after its
// imports, with coverage on), against 2.8 s for the bundle.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
// @ts-expect-error -- a JavaScript module of the build, without types
import { embedXxhashWasm, stubDevtools } from '../../scripts/esbuild-plugins.mjs';
import { REPO_ROOT } from './vm-image.ts';

/**
 * tcompare (tap's diff) loads react-element-to-jsx-string with a require of its own made at run
 * time, from its own node_modules: written as a plain require, the bundle holds it.
 */
const tcompareJsx: Plugin = {
  name: 'tcompare-react-element-to-jsx-string',
  setup(b) {
    b.onLoad({ filter: /[\\/]tcompare[\\/]dist[\\/]esm[\\/]react-element-to-jsx-string\.js$/ }, async (args) => {
      const original = await fsp.readFile(args.path, 'utf8');
      if (!original.includes("require('react-element-to-jsx-string')"))
        throw new Error(`${args.path} changed: test/helpers/vm-bundle.ts (tcompareJsx) needs a look`);
      return {
        contents: "const r = require('react-element-to-jsx-string');\nexport default r.default;\n",
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

export interface LaneBundle {
  /** The bundle's path inside the VM (the repository is /repo there). */
  inVm: string;
  /** Removes the bundle's folder. */
  remove: () => Promise<void>;
}

/**
 * Bundles `file` (relative to the repository) into a folder of its own under dist/vm-lane/, with
 * the guard program beside it as qrv-guard.mjs (where src/system/guard.ts looks for it, next to
 * the bundle it is part of). The folder is this process's: two test files bundling at once do
 * not write each other's files.
 */
export async function bundleLaneFile(file: string): Promise<LaneBundle> {
  const name = path.basename(file).replace(/\.ts$/, '');
  const outdir = path.join(REPO_ROOT, 'dist', 'vm-lane', `${name}-${process.pid}`);
  await fsp.rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { [name]: path.join(REPO_ROOT, file), 'qrv-guard': path.join(REPO_ROOT, 'src/system/guard-main.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    keepNames: true,
    logLevel: 'warning',
    plugins: [stubDevtools, embedXxhashWasm, tcompareJsx],
    // bundled CommonJS dependencies call require()
    banner: {
      js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
    },
  });
  return {
    inVm: `/repo/${path.relative(REPO_ROOT, path.join(outdir, `${name}.mjs`))}`,
    remove: () => fsp.rm(outdir, { recursive: true, force: true }),
  };
}
