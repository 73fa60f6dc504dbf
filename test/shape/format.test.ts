// Every source file is as Prettier writes it (the "prettier" settings of package.json): `npm run format` fixes what this
// finds. Checked on a scratch file too, so a check that passes everything fails here.
import t from 'tap';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.ts';

const PRETTIER = path.join(ROOT, 'node_modules', '.bin', 'prettier');

t.test('src, test, bench and scripts are formatted', async (t) => {
  const run = await execa('npm', ['run', '--silent', 'lint:format'], { cwd: ROOT, reject: false, all: true });
  t.equal(run.exitCode, 0, `not formatted (run \`npm run format\`):\n${run.all}`);
});

t.test('the check fails on a file that is not formatted', async (t) => {
  // (given on stdin as a file of src/, so that the project's settings apply; nothing is written)
  const messy = 'export const  x = { a:1,b:"two" }\n';
  const stdin = ['--stdin-filepath', path.join(ROOT, 'src', 'messy.ts')];
  const check = await execa(PRETTIER, ['--check', ...stdin], { cwd: ROOT, input: messy, reject: false, all: true });
  t.not(check.exitCode, 0);
  const formatted = await execa(PRETTIER, stdin, { cwd: ROOT, input: messy });
  t.equal(formatted.stdout, "export const x = { a: 1, b: 'two' };", 'as the settings write it');
});
