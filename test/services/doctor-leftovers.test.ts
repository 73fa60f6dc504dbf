// `qrv doctor` finds the work folders a killed recovery by object left in $TMPDIR, and --fix
// unmounts what is still mounted in one and removes it (src/services/doctor-leftovers.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { workDirFindings } from '../../src/services/doctor-leftovers.ts';
import { lane } from '../helpers/lanes.ts';
import { tmpDir, useTmpdir } from '../helpers/tmp.ts';

t.test("a killed recovery's clone folder, still mounted: found, unmounted and removed", async (t) => {
  if (!lane(t, 'doctor work folders', { root: true })) return;
  const tmp = await tmpDir(t);
  useTmpdir(t, tmp);
  const clone = path.join(tmp, 'qrv-clone-killed');
  const mnt = path.join(clone, 'mnt');
  await fs.mkdir(mnt, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  t.teardown(() => execa('umount', ['-l', mnt], { reject: false }));
  await fs.writeFile(path.join(mnt, 'upper-file'), 'x');
  const old = new Date(Date.now() - 120_000);
  await fs.utimes(clone, old, old);
  const [found, ...more] = await workDirFindings();
  t.same(more, []);
  t.match(found?.finding, { kind: 'leftover', subject: clone, what: /left by a qrv that was killed/ });
  await found?.fix();
  t.equal((await execa('findmnt', ['-rn', mnt], { reject: false })).exitCode, 1, 'unmounted');
  await t.rejects(fs.stat(clone), { code: 'ENOENT' }, 'removed');
});
