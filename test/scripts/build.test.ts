// `npm test` runs an unminified build (coverage maps it back to src/ line by line; see
// scripts/build.mjs), so the build as shipped, minified, is built here on its own and run: the
// whole demo cycle, the version, and a JSON listing.
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const OUT = path.join(ROOT, '.tap', 'minified-build');

t.test('the minified build as shipped runs the demo', async (t) => {
  await fs.rm(OUT, { recursive: true, force: true });
  t.teardown(() => fs.rm(OUT, { recursive: true, force: true }));
  await execa(process.execPath, ['scripts/build.mjs'], {
    cwd: ROOT,
    env: { QRV_BUILD_OUTDIR: OUT, QRV_BUILD_PLAIN: '' },
  });
  // over the whole build: the main file itself is little more than the imports of its chunks
  const files = (await fs.readdir(OUT)).filter((name) => name.endsWith('.mjs'));
  const code = (await Promise.all(files.map((name) => fs.readFile(path.join(OUT, name), 'utf8')))).join('\n');
  const perLine = code.length / code.split('\n').length;
  t.ok(perLine > 1000, `minified: ${Math.round(perLine)} characters a line in ${files.length} files`);

  const qrv = (args: string[]) =>
    execa(process.execPath, ['--max-semi-space-size=4', path.join(OUT, 'qrv.mjs'), ...args], {
      reject: false,
      env: { CI: '' },
      stdin: 'ignore',
    });
  const demo = await qrv(['demo']);
  t.equal(demo.exitCode, 0, demo.exitCode === 0 ? 'the demo exits 0' : `demo:\n${demo.stdout}\n${demo.stderr}`);
  t.match(demo.stdout, /demo passed/);
  const version = await qrv(['--version']);
  t.match(version.stdout, /^\d+\.\d+\.\d+/);
  // The guards' own program is built beside it; without a guard named, it says so and exits 2.
  const guard = await execa(process.execPath, [path.join(OUT, 'qrv-guard.mjs')], { reject: false, env: {}, input: '' });
  t.equal(guard.exitCode, 2);
  t.match(guard.stderr, /QRV_GUARD must be/);
  const home = await tmpDir(t);
  await fs.chmod(home, 0o700);
  const list = await qrv(['--home', home, '--json', 'list']);
  t.equal(list.exitCode, 0, list.stderr);
  for (const line of list.stdout.split('\n').filter(Boolean)) JSON.parse(line);
});
