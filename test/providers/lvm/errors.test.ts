// The lvm provider's refusals that need no device-mapper kernel, through the real bin/qrv on the
// host: not root, lvm not installed, a path that is not /dev/VG/LV, a thin pool. Each is one
// line that says what to do, with its documented exit status, and the catalog is left as it was.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { qrv } from '../../helpers/cli.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const root = process.getuid?.() === 0;

t.test(
  'not root: exit 10, not-root, nothing recorded',
  { skip: root ? false : 'needs root to switch to another user' },
  async (t) => {
    // nobody's own home (qrv refuses a home another user owns or can write) in a folder it can
    // reach; never a chmod of the folders above (that once took the sticky bit off /tmp)
    const dir = await tmpDir(t);
    await fs.chmod(dir, 0o755);
    const home = path.join(dir, 'home');
    await fs.mkdir(home, { mode: 0o700 });
    await fs.chown(home, 65534, 65534);
    // tap's coverage hooks (in NODE_OPTIONS, put back into every child) would write into the
    // repository as that user: `env -u` drops them after the switch.
    const run = await qrv(home, ['volume', 'add', 'db', '--provider', 'lvm', '--path', '/dev/vg0/db'], {}, [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'env',
      '-u',
      'NODE_OPTIONS',
    ]);
    t.equal(run.exitCode, 10, run.stderr);
    t.match(run.stderr, /^qrv: the lvm provider needs root .*\(run qrv as root \(sudo\)\)$/);
    await t.rejects(fs.stat(path.join(home, 'catalog.json')), { code: 'ENOENT' }, 'no catalog written');
  },
);

t.test(
  'lvm not installed: exit 10, names the package',
  { skip: root ? false : 'the root check comes first' },
  async (t) => {
    const home = await tmpDir(t);
    const run = await qrv(home, ['volume', 'add', 'db', '--provider', 'lvm', '--path', '/dev/vg0/db'], {
      PATH: '/nonexistent',
    });
    t.equal(run.exitCode, 10, run.stderr);
    t.match(run.stderr, /lvm.*lvm2/);
    await t.rejects(fs.stat(path.join(home, 'catalog.json')), { code: 'ENOENT' }, 'no catalog written');
  },
);

t.test('a path that is not /dev/VG/LV: exit 2', { skip: root ? false : 'the root check comes first' }, async (t) => {
  const home = await tmpDir(t);
  const run = await qrv(home, ['volume', 'add', 'db', '--provider', 'lvm', '--path', '/srv/db.img']);
  t.equal(run.exitCode, 2, run.stderr);
  t.match(run.stderr, /is not a \/dev\/VG\/LV path \(give the logical volume as \/dev\/VG\/LV\)/);
});
