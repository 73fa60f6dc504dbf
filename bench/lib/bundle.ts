// Bundles a bench child script with esbuild exactly as scripts/build.mjs bundles the CLI (ESM,
// node20, @node-rs/xxhash external, a require() for bundled CommonJS), so measured runs load
// what users run rather than tsx-transpiled sources.
import { build } from 'esbuild';

export async function bundleChild(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['@node-rs/xxhash'],
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __qrvRequire } from 'node:module'; const require = __qrvRequire(import.meta.url);",
    },
  });
}
