// The linter (scripts/eslint.config.mjs): src/ passes it with no function excused from its rules
// (inline eslint comments are not obeyed), and its limits catch what they are for.
import t from 'tap';
import path from 'node:path';
import { execa } from 'execa';
import fg from 'fast-glob';
import fs from 'node:fs/promises';
import { ROOT } from '../helpers/cli.ts';

const ESLINT = path.join(ROOT, 'node_modules', '.bin', 'eslint');
const CONFIG = path.join(ROOT, 'scripts', 'eslint.config.mjs');

t.test('src passes the linter, with no excuse obeyed', async (t) => {
  const run = await execa(ESLINT, ['--config', CONFIG, '--no-inline-config', 'src'], {
    cwd: ROOT,
    reject: false,
    all: true,
  });
  t.equal(run.exitCode, 0, String(run.all));
});

/** ESLint's rule ids for `text`, given on stdin as a file of src/ (so the project's rules apply; nothing is written). */
async function lintSource(text: string): Promise<{ rules: (string | null)[]; exitCode: number | undefined }> {
  const run = await execa(
    ESLINT,
    ['--config', CONFIG, '--stdin', '--stdin-filename', path.join(ROOT, 'src', 'core', 'scratch.ts'), '-f', 'json'],
    { cwd: ROOT, input: text, reject: false },
  );
  const files = JSON.parse(run.stdout) as { messages: { ruleId: string | null }[] }[];
  return { rules: files.flatMap((f) => f.messages.map((m) => m.ruleId)), exitCode: run.exitCode };
}

const MANY =
  'export function many(a: number, b: number, c: number, d: number, e: number, f: number): number {\n  return a + b + c + d + e + f;\n}';

t.test('the structural limits catch a long function, many parameters and deep nesting', async (t) => {
  const body = Array.from({ length: 70 }, (_, i) => `  total += ${i};`).join('\n');
  const text = [
    `export function long(): number {\n  let total = 0;\n${body}\n  return total;\n}`,
    MANY,
    'export function deep(a: number): number {\n  if (a) { if (a > 1) { if (a > 2) { if (a > 3) { if (a > 4) return 5; } } } }\n  return 0;\n}',
  ].join('\n');
  const { rules } = await lintSource(text);
  t.same(rules.sort(), ['max-depth', 'max-lines-per-function', 'max-params']);
});

t.test('an inline excuse is not obeyed', async (t) => {
  // (without --no-inline-config: the config itself ignores inline comments)
  const { rules, exitCode } = await lintSource(`// eslint-disable-next-line max-params\n${MANY}\n`);
  t.ok(rules.includes('max-params'), `still reported: ${JSON.stringify(rules)}`);
  t.not(exitCode, 0);
});

t.test('no function is excused from the limits', async (t) => {
  const excused: string[] = [];
  for (const file of await fg('src/**/*.{ts,tsx}', { cwd: ROOT })) {
    const text = await fs.readFile(path.join(ROOT, file), 'utf8');
    if (/eslint-disable/.test(text)) excused.push(file);
  }
  t.same(excused, [], 'split a function rather than excuse it');
});
