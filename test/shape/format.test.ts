// Every source file is as Prettier writes it (.prettierrc.json): `npm run format` fixes what this
// finds. Checked on a scratch file too, so a check that passes everything fails here.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const PRETTIER = path.join(ROOT, 'node_modules', '.bin', 'prettier');

t.test('src, test, bench and scripts are formatted', async (t) => {
  const run = await execa('npm', ['run', '--silent', 'lint:format'], { cwd: ROOT, reject: false, all: true });
  t.equal(run.exitCode, 0, `not formatted (run \`npm run format\`):\n${run.all}`);
});

t.test('the check fails on a file that is not formatted', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'messy.ts');
  await fs.writeFile(file, 'export const  x = { a:1,b:"two" }\n');
  const config = path.join(ROOT, '.prettierrc.json');
  const run = await execa(PRETTIER, ['--config', config, '--check', file], { reject: false, all: true });
  t.not(run.exitCode, 0);
  await execa(PRETTIER, ['--config', config, '--write', file]);
  t.equal(await fs.readFile(file, 'utf8'), "export const x = { a: 1, b: 'two' };\n", 'and --write makes it so');
});
