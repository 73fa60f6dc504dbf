// The pure part of finding what a promoted QRV's device is: an LVM dm name back to VG and LV.
import t from 'tap';
import { splitLvmName } from '../../src/services/promote-target.ts';

t.test('splitLvmName: "-" separates VG and LV, "--" is a "-" inside either', async (t) => {
  t.same(splitLvmName('vg0-data'), ['vg0', 'data']);
  t.same(splitLvmName('my--vg-web--qrv'), ['my-vg', 'web-qrv']);
  t.same(splitLvmName('vg-lv--x--y'), ['vg', 'lv-x-y']);
  t.equal(splitLvmName('nodash'), null);
});
