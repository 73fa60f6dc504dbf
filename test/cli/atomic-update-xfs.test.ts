// The kill tests of QRV updates (test/helpers/atomic-update.ts) on a loop-mounted XFS with
// reflink: the snapshots are reflink clones and the QRV and its undo journal live on XFS.
import t from 'tap';
import { killTests, randomKills, seeded } from '../helpers/atomic-update.ts';
import { lane } from '../helpers/lanes.ts';
import { mountLoopFs } from '../helpers/loop-fs.ts';
import { tmpDir } from '../helpers/tmp.ts';

const seed = seeded();
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);

t.test(
  'xfs reflink lane: a QRV update killed at failpoints and at random times settles at the old or the new point in time',
  async (t) => {
    if (!lane(t, 'xfs reflink', { root: true, tools: ['mkfs.xfs', 'losetup', 'mount'] })) return;
    const { mountpoint } = await mountLoopFs(t, await tmpDir(t, 'qrv-atomic-xfs-'), 'xfs', 400);
    await killTests(t, mountpoint, [
      ['mid-copy', 'update', '5000'],
      ['mid-copy', 'full', '5000'],
      ['after-undo-save', 'full', '0'],
      ['before-commit', 'update', '5000'],
    ]);
    await randomKills(t, mountpoint, 2);
  },
);
