// How often the lvm provider runs `lvs` (lvm-provider.ts, REPORT_TTL_MS): the lookups of one
// command share one report of the VG; an LV missing from it is looked for in a fresh one; any
// lvm command of qrv's own that may change LVs drops it; it expires. The `lvm` here is a stand-in
// on PATH that counts its calls and prints a report captured from the real lvm in the VM lane
// (test/vm/captured/lvs.json): this is about qrv's calls, not lvm's answers, which the VM lane's
// contract suite checks against the real lvm (test/providers/lvm/lvm-provider.test.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { REPORT_TTL_MS, lvmProvider } from '../../../src/providers/lvm/lvm-provider.ts';
import { REPO_ROOT } from '../../helpers/vm.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const root = process.getuid?.() === 0;

t.test(
  'lookups share one lvs report',
  { skip: root ? false : 'the provider refuses to run lvm unless root' },
  async (t) => {
    const dir = await tmpDir(t);
    const calls = path.join(dir, 'calls');
    const report = path.join(dir, 'lvs.json');
    await fs.copyFile(path.join(REPO_ROOT, 'test/vm/captured/lvs.json'), report);
    await fs.writeFile(
      path.join(dir, 'lvm'),
      `#!/bin/sh\nfor a; do last=$a; done\necho "$1 $last" >>'${calls}'\n[ "$1" = lvs ] && cat '${report}'\nexit 0\n`,
      { mode: 0o755 },
    );
    const PATH = process.env.PATH;
    process.env.PATH = `${dir}:${PATH}`;
    t.teardown(() => {
      process.env.PATH = PATH;
    });
    const made = async (): Promise<string[]> =>
      (await fs.readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const volume = (lv: string) => ({ name: lv, provider: 'lvm', path: `/dev/vg0/${lv}`, options: {} });

    t.same(await lvmProvider.inspect(volume('data')), { sizeBytes: 67108864, kind: 'block' });
    t.same(await lvmProvider.inspect(volume('thin')), { sizeBytes: 67108864, kind: 'block' });
    t.same((await lvmProvider.listSnapshots!(volume('data'))).length, 1);
    t.same(await made(), ['lvs vg0'], 'three lookups in one VG: one lvs, of the whole VG');

    await t.rejects(lvmProvider.inspect(volume('gone')), { code: 'volume-missing' });
    t.same(await made(), ['lvs vg0', 'lvs vg0'], 'an LV not in the report is looked for in a fresh one');

    await lvmProvider.createSnapshot(volume('data'), 's-0123456789ab');
    t.same((await made()).slice(2), ['lvcreate vg0/data'], 'a snapshot of a known LV reads no new report');
    await lvmProvider.inspect(volume('data'));
    t.same((await made()).slice(3), ['lvs vg0'], 'after an lvcreate the report is read again');

    await new Promise((resolve) => setTimeout(resolve, REPORT_TTL_MS + 50));
    await lvmProvider.inspect(volume('data'));
    t.same((await made()).slice(4), ['lvs vg0'], `a report older than ${REPORT_TTL_MS} ms is read again`);
  },
);
