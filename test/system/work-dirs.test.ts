// Work folders of a recovery by object (src/system/work-dirs.ts): marked with the process that
// made them, so that `qrv doctor` finds those of a qrv that was killed — and only those.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { abandonedWorkDirs, makeWorkDir, markWorkDir } from '../../src/system/work-dirs.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir, useTmpdir } from '../helpers/tmp.ts';

t.test("a folder whose process is gone is abandoned; a live one, a young one, another user's are not", async (t) => {
  if (!lane(t, 'work folders', { root: true })) return;
  const tmp = await tmpDir(t);
  useTmpdir(t, tmp);
  const live = await makeWorkDir('qrv-sqlite-');
  t.equal(path.dirname(live), tmp);
  t.equal((await fs.stat(live)).mode & 0o777, 0o700, 'private');
  // a folder marked by a process that has ended since
  const dead = path.join(tmp, 'qrv-clone-dead');
  await fs.mkdir(dead, { mode: 0o700 });
  await execa(process.execPath, [
    '--import',
    'tsx',
    '-e',
    `import('${path.resolve('src/system/work-dirs.ts')}').then((m) => m.markWorkDir(${JSON.stringify(dead)}))`,
  ]);
  // no mark at all (a qrv killed between mkdtemp and the mark), and another user's look-alike
  const unmarked = path.join(tmp, 'qrv-pg-unmarked');
  await fs.mkdir(unmarked);
  const foreign = path.join(tmp, 'qrv-pgdump-nobody');
  await fs.mkdir(foreign);
  await fs.chown(foreign, 65534, 65534);
  const later = Date.now() + 120_000;
  t.same(
    await abandonedWorkDirs(tmp, later),
    [dead, unmarked].sort(),
    "the dead and the unmarked, not the live one nor nobody's",
  );
  t.same(await abandonedWorkDirs(tmp), [], 'nothing younger than a minute');
  await t.rejects(markWorkDir(live), { code: 'EEXIST' }, 'a mark is never overwritten');
});
