// The module hooks of esbuild-import.mjs (they run on Node's loader thread).
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TYPESCRIPT = /^file:\/\/[^?#]*\.(m|c)?tsx?(?=[?#]|$)/;

/**
 * A .ts/.tsx file is read by the hooks after this one (tap's mock and processinfo see it) and
 * transformed here: types gone, JSX compiled as tsconfig.json says (react-jsx), an inline source
 * map so that coverage maps back to the file's own lines.
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
    jsx: 'automatic',
    sourcemap: 'inline',
    sourcefile: file,
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
  });
  return { format: 'module', source: code, shortCircuit: true };
}
