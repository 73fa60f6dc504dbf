// The kernel's mirror copy has one speed setting, for every mirror at once (pvmove's too): dm_mirror's
// module parameter raid1_resync_throttle, the percentage of time kcopyd may spend copying (default 100).
import fs from 'node:fs/promises';
import { QrvError } from '../../core/errors.ts';

export const THROTTLE_FILE = '/sys/module/dm_mirror/parameters/raid1_resync_throttle';

export async function setResyncThrottle(percent: number, file = THROTTLE_FILE): Promise<void> {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100)
    throw new QrvError(
      'usage',
      'usage',
      `--throttle ${percent}: give a whole percentage from 1 to 100`,
      'e.g. --throttle 25',
    );
  await fs.writeFile(file, `${percent}\n`).catch((error: NodeJS.ErrnoException) => {
    throw new QrvError(
      'io',
      'write-failed',
      `cannot set ${file} (${error.code ?? error.message})`,
      'is the dm_mirror module loaded? (modprobe dm-mirror)',
    );
  });
}
