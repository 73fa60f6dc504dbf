// The module hooks of esbuild-import.mjs (they run on Node's loader thread).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TYPESCRIPT = /^file:\/\/[^?#]*\.tsx?(?=[?#]|$)/;
// The project's own settings (jsx: react-jsx, verbatimModuleSyntax), as tsc checks them.
const { compilerOptions } = JSON.parse(readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8'));

/**
 * A .ts/.tsx file is read by the hooks after this one (tap's mock and processinfo see it) and
 * transformed here, with an inline source map so that coverage maps back to the file's own lines.
 */
export async function load(url, context, nextLoad) {
  const match = TYPESCRIPT.exec(url);
  if (!match) return nextLoad(url, context);
  const loaded = await nextLoad(url, { ...context, format: 'module' });
  const file = fileURLToPath(match[0]);
  const { code } = await transform(String(loaded.source), {
    loader: file.endsWith('x') ? 'tsx' : 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: file,
    tsconfigRaw: { compilerOptions },
  });
  return { format: 'module', source: code, shortCircuit: true };
}
