// Which logical volumes an `lvm:` discovery selector takes (the LVs themselves are listed by the
// lvm provider in the VM lane: test/vm/lane/vm-lvm-e2e.sh runs `qrv discover --lvm`).
import t from 'tap';
import { lvSelected } from '../../src/services/discover.ts';

t.test('lvSelected: VG, VG/LV and * in either part', async (t) => {
  t.ok(lvSelected('vg0', '/dev/vg0/db'), 'a VG takes all its LVs');
  t.notOk(lvSelected('vg0', '/dev/vg1/db'));
  t.ok(lvSelected('vg0/db', '/dev/vg0/db'));
  t.notOk(lvSelected('vg0/db', '/dev/vg0/db2'), 'an exact name is exact');
  t.ok(lvSelected('vg0/db*', '/dev/vg0/db2'));
  t.notOk(lvSelected('vg0/db*', '/dev/vg0/web'));
  t.ok(lvSelected('*', '/dev/any/thing'));
  t.ok(lvSelected('*/web', '/dev/vg9/web'));
  t.notOk(lvSelected('vg.0', '/dev/vgx0/db'), 'a dot is a dot');
  t.notOk(lvSelected('vg0', '/srv/vg0/db'), 'only /dev/VG/LV paths');
  t.notOk(lvSelected('vg0/a/b', '/dev/vg0/a'), 'not a selector');
});
