// Bundles a bench child script with esbuild exactly as scripts/build.mjs bundles the CLI (ESM,
// node20, the xxhash WebAssembly embedded, a require() for bundled CommonJS), so measured runs load
// what users run rather than tsx-transpiled sources.
import { build } from 'esbuild';
// @ts-expect-error -- a plain .mjs of the build scripts, without types
import { embedXxhashWasm } from '../../scripts/esbuild-plugins.mjs';

export async function bundleChild(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    plugins: [embedXxhashWasm],
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
    },
  });
}
