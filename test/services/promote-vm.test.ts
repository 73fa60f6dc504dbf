// `qrv promote` of QRVs on block devices, in the VM lane (test/vm/lane/vm-promote.sh): an lvm
// volume moves to the LV its QRV was copied to, a dm volume takes over the device its QRV is on.
import t from 'tap';
import { vmLane, vmScript, vmTestTimeout } from '../helpers/vm.ts';

t.setTimeout(vmTestTimeout(420_000));

t.test('promote onto an LV (lvm) and onto a plain device (dm)', async (t) => {
  if (!vmLane(t)) return;
  const { result, json } = await vmScript(t, 'test/vm/lane/vm-promote.sh', {
    diskMiB: 512,
    memoryMiB: 1024,
    timeoutMs: 420_000,
  });
  t.match(
    json('lvm-run'),
    { qrv: { state: 'ready', destination: '/dev/mapper/vge-dbq' } },
    'a QRV on an LV (recorded by its real path)',
  );
  t.equal(result('lvm-mounted'), '4 volume-mounted', 'lvm: the old primary mounted: refused');
  t.equal(result('lvm-exists'), '4 primary-exists', 'lvm: without --force while the old primary exists: refused');
  t.match(json('lvm-promote'), {
    volume: { name: 'db', provider: 'lvm', path: '/dev/vge/dbq', retired: [{ path: '/dev/vge/db', provider: 'lvm' }] },
    qrv: { state: 'promoted' },
  });
  t.equal(result('lvm-old-kept'), 'yes', 'lvm: the old LV is left as it was');
  t.equal(result('lvm-data'), 'one', "lvm: the new primary holds the QRV's point in time");
  t.match(
    json('lvm-snap'),
    { snapshot: { volume: 'db', state: 'ready', path: /^\/dev\/vge\/dbq_qrv_s-/ } },
    'lvm: qrv snap now snapshots the new LV',
  );
  t.equal(result('lvm-snap-data'), 'three', 'lvm: and the snapshot holds its data');
  t.match(result('lvm-lvs'), /^ ?db dbq ?$/, 'lvm: no snapshot LV left behind');

  t.match(json('dm-run'), { qrv: { state: 'ready' } });
  const promoted = json('dm-promote');
  t.match(promoted, {
    volume: { name: 'web', provider: 'dm', path: '/dev/mapper/qrv-web' },
    qrv: { state: 'promoted' },
  });
  const [qdev, raw] = result('dm-qdev')
    .split(' ')
    .map((hex) =>
      hex
        .split(':')
        .map((h) => parseInt(h, 16))
        .join(':'),
    );
  t.match(
    result('dm-table'),
    new RegExp(`^0 131072 linear ${qdev} 0$`),
    `dm: qrv-web now maps the QRV's device (${qdev}), not the old one (${raw})`,
  );
  t.equal(result('dm-old-kept'), 'yes', 'dm: the old device is left as it was');
  t.equal(result('dm-data'), 'one', "dm: the new primary holds the QRV's point in time");
  t.match(json('dm-snap'), { snapshot: { volume: 'web', state: 'ready' } });
  t.equal(result('dm-snap-data'), 'three', 'dm: a snapshot of the new primary holds its data');
  t.match(json('dm-remove'), { volume: { name: 'web' } }, 'dm: the volume is removed');
  t.equal(result('dm-after'), '0', 'dm: no qrv device left');
});
