// lvs's JSON report, as captured from lvm2 2.03.16 in the VM lane.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { parseLvs, parseThinDelta, snapshotIdOf, snapshotInvalid } from '../../../src/providers/lvm/reports.ts';
import { REPO_ROOT } from '../../helpers/vm.ts';

t.test('parseLvs reads the captured report: sizes, origins, pools, tags, COW use', async (t) => {
  const rows = parseLvs(await fs.readFile(path.join(REPO_ROOT, 'test/vm/captured/lvs.json'), 'utf8'));
  t.ok(rows);
  const byName = new Map((rows ?? []).map((r) => [r.name, r]));
  t.match(byName.get('data'), {
    vg: 'vg0',
    attr: 'owi-aos---',
    sizeBytes: 67108864,
    origin: '',
    pool: '',
    tags: [],
    percent: null,
  });
  t.match(byName.get('snap'), {
    attr: 'swi-a-s---',
    sizeBytes: 33554432,
    origin: 'data',
    tags: ['qrv', 'qrv:group=g1'],
    percent: 25.24,
  });
  t.match(byName.get('thin'), { attr: 'Vwi-a-tz--', pool: 'pool', origin: '' });
  t.match(byName.get('thinsnap'), { origin: 'thin', pool: 'pool', attr: 'Vwi-a-tz-k' });
  t.equal(byName.get('pool')?.attr[0], 't', 'the pool is a thin pool');
});

t.test('parseLvs refuses what is not an lvs JSON report', async (t) => {
  t.equal(parseLvs('not json'), null);
  t.equal(parseLvs('{"something": []}'), null);
  t.equal(
    parseLvs('{"report": [{"lv": [{"lv_name": "x", "vg_name": "v", "lv_size": "12.5g"}]}]}'),
    null,
    'sizes must be in bytes',
  );
  t.same(parseLvs('{"report": [{"lv": []}]}'), []);
});

t.test('snapshotIdOf reads the qrv-snapshot tag', async (t) => {
  const row = {
    name: 'x',
    vg: 'v',
    attr: '',
    sizeBytes: 1,
    origin: 'o',
    pool: '',
    tags: ['qrv', 'qrv-snapshot:s-0000000a'],
    percent: null,
    thinId: null,
  };
  t.equal(snapshotIdOf(row), 's-0000000a');
  t.equal(snapshotIdOf({ ...row, tags: ['qrv'] }), undefined);
});

t.test('snapshotInvalid: a classic snapshot whose state is I (or S, invalid and suspended)', async (t) => {
  const row = {
    name: 'x',
    vg: 'v',
    attr: 'swi-a-s---',
    sizeBytes: 1,
    origin: 'o',
    pool: '',
    tags: [],
    percent: 10,
    thinId: null,
  };
  t.equal(snapshotInvalid(row), false);
  t.equal(snapshotInvalid({ ...row, attr: 'swi-I-s---', percent: 100 }), true);
  t.equal(snapshotInvalid({ ...row, attr: 'swi-S-s---' }), true);
  t.equal(snapshotInvalid({ ...row, attr: 'owi-I-----' }), false, 'only snapshots');
});

t.test('parseThinDelta reads the captured report: every block that is not the same', async (t) => {
  const xml = await fs.readFile(path.join(REPO_ROOT, 'test/vm/captured/thin-delta.xml'), 'utf8');
  const block = 128 * 512; // data_block_size="128" sectors: 64 KiB
  // <same 0+5> <different 5+1> <same 6+10> <right_only 100+3>
  t.same(parseThinDelta(xml, 64 * 1024 * 1024), [
    { start: 5 * block, end: 6 * block },
    { start: 100 * block, end: 103 * block },
  ]);
  t.same(
    parseThinDelta(xml, 101 * block + 100),
    [
      { start: 5 * block, end: 6 * block },
      { start: 100 * block, end: 101 * block + 100 },
    ],
    'clipped to the size',
  );
  const touching =
    '<superblock uuid="" time="1" transaction="2" data_block_size="8" nr_data_blocks="0">\n  <diff left="1" right="2">\n    <left_only begin="0" length="2"/>\n    <different begin="2" length="1"/>\n  </diff>\n</superblock>\n';
  t.same(parseThinDelta(touching, 1 << 20), [{ start: 0, end: 3 * 4096 }], 'touching runs merged');
  t.same(parseThinDelta(touching.replace(/<(left_only|different)[^>]*>/g, ''), 1 << 20), [], 'no difference');
  t.equal(parseThinDelta('thin_delta: no such device', 1 << 20), null);
  t.equal(parseThinDelta('<superblock uuid="">\n</superblock>', 1 << 20), null, 'no block size, no diff');
});

t.test('parseLvs reads thin_id when asked for it', async (t) => {
  const rows = parseLvs(
    '{"report": [{"lv": [{"lv_name": "t", "vg_name": "v", "lv_size": "4194304B", "thin_id": "7"}, {"lv_name": "l", "vg_name": "v", "lv_size": "4194304B", "thin_id": ""}]}]}',
  );
  t.same(
    rows?.map((r) => r.thinId),
    [7, null],
  );
});
