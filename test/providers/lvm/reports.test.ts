// lvs's JSON report, as captured from lvm2 2.03.16 in the VM lane.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { parseLvs, snapshotIdOf } from '../../../src/providers/lvm/reports.ts';
import { REPO_ROOT } from '../../helpers/vm.ts';

t.test('parseLvs reads the captured report: sizes, origins, pools, tags, COW use', async (t) => {
  const rows = parseLvs(await fs.readFile(path.join(REPO_ROOT, 'test/vm/captured/lvs.json'), 'utf8'));
  t.ok(rows);
  const byName = new Map((rows ?? []).map((r) => [r.name, r]));
  t.match(byName.get('data'), { vg: 'vg0', attr: 'owi-aos---', sizeBytes: 67108864, origin: '', pool: '', tags: [], percent: null });
  t.match(byName.get('snap'), { attr: 'swi-a-s---', sizeBytes: 33554432, origin: 'data', tags: ['qrv', 'qrv:group=g1'], percent: 25.24 });
  t.match(byName.get('thin'), { attr: 'Vwi-a-tz--', pool: 'pool', origin: '' });
  t.match(byName.get('thinsnap'), { origin: 'thin', pool: 'pool', attr: 'Vwi-a-tz-k' });
  t.equal(byName.get('pool')?.attr[0], 't', 'the pool is a thin pool');
});

t.test('parseLvs refuses what is not an lvs JSON report', async (t) => {
  t.equal(parseLvs('not json'), null);
  t.equal(parseLvs('{"something": []}'), null);
  t.equal(parseLvs('{"report": [{"lv": [{"lv_name": "x", "vg_name": "v", "lv_size": "12.5g"}]}]}'), null, 'sizes must be in bytes');
  t.same(parseLvs('{"report": [{"lv": []}]}'), []);
});

t.test('snapshotIdOf reads the qrv-snapshot tag', async (t) => {
  const row = { name: 'x', vg: 'v', attr: '', sizeBytes: 1, origin: 'o', pool: '', tags: ['qrv', 'qrv-snapshot:s-0000000a'], percent: null };
  t.equal(snapshotIdOf(row), 's-0000000a');
  t.equal(snapshotIdOf({ ...row, tags: ['qrv'] }), undefined);
});
