// End to end through bin/qrv: a QRV update killed at any point (failpoints, random SIGKILLs)
// leaves the QRV at its previous point in time or, after `qrv doctor --fix`, at exactly the old
// or the new one (sha256), with the catalog row saying which; `qrv recover --from` then works.
// Here on the host's root filesystem (ext4: no reflink); atomic-update-xfs.test.ts on XFS.
import t from 'tap';
import { killTests, randomKills, seeded } from '../helpers/atomic-update.ts';
import { tmpDir } from '../helpers/tmp.ts';

const seed = seeded();
t.comment(`seed ${seed} (QRV_SEED=${seed} replays it)`);

t.test(
  'ext4 (host root filesystem): a QRV update killed at each failpoint settles at the old or the new point in time',
  async (t) => {
    await killTests(t, await tmpDir(t, 'qrv-atomic-ext4-'), [
      ['after-undo-save', 'update', '5000'],
      ['mid-copy', 'update', '5000'],
      ['mid-copy', 'update', '0'],
      ['mid-copy', 'full', '5000'],
      ['mid-copy', 'shrunk', '5000'],
      ['before-checkpoint', 'update', '0'],
      ['before-checkpoint', 'full', '5000'],
      ['before-commit', 'update', '5000'],
      ['before-commit', 'full', '0'],
    ]);
  },
);

t.test('ext4: random SIGKILLs during updates', async (t) => {
  await randomKills(t, await tmpDir(t, 'qrv-atomic-rnd-'), 3);
});
