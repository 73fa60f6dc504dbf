// `qrv recover --instant` in the VM lane, over two boots of one disk (test/vm/lane/vm-instant-1.sh,
// then vm-instant-2.sh): a dm volume, a thin LV and a classic LV read their QRV within seconds,
// block for block, while the kernel copies it back; what is written meanwhile survives; a qrv
// killed while it waits and a reboot in the middle of the copy both end with the volume holding
// the QRV and those writes, its device its own table again, and nothing of qrv's left.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { vmLane, vmScript, vmTestTimeout } from '../helpers/vm.ts';

t.setTimeout(vmTestTimeout(600_000));

t.test('instant recovery: dm, thin and classic LVs; qrv killed; a reboot in the middle', async (t) => {
  if (!vmLane(t)) return;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qrv-instant-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const disk = path.join(dir, 'disk.img');
  const first = await vmScript(t, 'test/vm/lane/vm-instant-1.sh', { diskMiB: 1024, timeoutMs: 360_000, disk });
  const { result, json } = first;
  t.equal(result('refused-mounted-x'), '4 volume-mounted', 'a mounted volume is refused');
  const wb = json('x-writeback');
  t.match(wb, { method: 'ledger' }, 'dm: --force writes back by the ledger');
  t.ok(
    wb.bytesWritten >= 8 * 2 ** 20 && wb.bytesWritten <= 10 * 2 ** 20,
    `dm: it wrote what changed (${wb.bytesWritten} bytes of 64 MiB: file1's 8 MiB and the metadata around it)`,
  );
  t.equal(result('x-writeback-same'), 'yes', 'dm: and the volume is the QRV again, byte for byte');
  const x = json('x');
  t.match(x, { method: 'instant', finished: true, job: { state: 'succeeded' } }, 'dm: recovered, waited for');
  // speed is measured by bench:instant, not asserted: emulated and beside other tests it varies 2-15 s
  t.ok(x.usableSeconds > 0, `dm: usable after ${x.usableSeconds} s (emulated, qrv's start included)`);
  const limit = 8 * 2 ** 20;
  const rate = (s?: { copyBytesPerSecond?: number }) => `${((s?.copyBytesPerSecond ?? 0) / 2 ** 20).toFixed(1)} MiB/s`;
  t.ok(
    (x.copyBytesPerSecond as number) <= 1.3 * limit,
    `dm: --throttle 8M kept the copy at ${rate(x)} (unthrottled, promote --migrate-to below: ${rate(json('migrate').recovery as object)})`,
  );
  t.equal(result('x-share-after'), '100', "dm: the kernel's share is given back at the end");
  t.equal(result('x-table'), 'linear', 'dm: qrv-x is linear over its device again');
  t.equal(result('x-same'), 'yes', 'dm: it holds the QRV block for block');
  t.equal(result('x-helpers'), '0 0 0', 'dm: no helper device, file or loop device left');
  t.match(
    json('migrate'),
    {
      volume: { name: 'x', provider: 'lvm', path: '/dev/vge/fast', retired: [{ provider: 'dm' }] },
      qrv: { state: 'ready' },
      recovery: { method: 'instant', finished: true },
    },
    'promote --migrate-to: the volume moved to the new LV, which got the QRV (on a block device); the QRV stays ready',
  );
  t.equal(result('migrate-same'), 'yes', 'the new LV holds the QRV block for block');
  t.equal(result('migrate-old'), '0', "the old primary's qrv-x device was given back");

  t.match(result('web-copying'), /^\d+ 128$/, 'thin: the kernel was copying');
  t.equal(result('web-reads-qrv'), 'same', 'thin: while copying, the LV reads as the QRV, block for block');
  t.equal(result('web-fsck-during'), 'clean', 'thin: and e2fsck finds it clean');
  t.equal(result('web-file-during'), 'same no-junk', "thin: the mounted LV's files are the QRV's");
  t.match(result('web-still-copying'), /^\d+ 128$/, 'thin: qrv killed, the kernel goes on copying');
  t.equal(result('web-snap-refused'), '4 volume-hydrating', 'thin: a snapshot is refused meanwhile');
  t.equal(result('web-doctor'), '1', 'thin: doctor says it is copying');
  t.equal(result('web-doctor-done'), '1', 'thin: and, once copied, that it is to be finished');
  t.match(json('web-status'), { hydrations: [{ volume: 'web', state: 'finished', copiedBytes: 64 * 1024 * 1024 }] });
  t.equal(result('web-table'), 'thin', 'thin: the LV is its thin device again, still mounted');
  t.equal(result('web-during'), 'same', 'thin: a file written while it was copied survived');
  t.equal(result('web-fsck'), 'clean', 'thin: clean after the copy');
  t.equal(result('web-qrv-unchanged'), 'yes', 'thin: the QRV still verifies: the writes did not reach it');

  t.match(json('db'), { method: 'instant', finished: false }, 'classic: --no-wait returns while it copies');
  t.equal(result('db-file-during'), 'same', 'classic: its files are the QRV at once');
  t.match(result('db-copying'), /^\d+ 128$/, 'classic: still copying before the reboot');
  t.equal(result('db-autoactivation'), '', 'classic: kept from autoactivation while it copies');

  const second = await vmScript(t, 'test/vm/lane/vm-instant-2.sh', { diskMiB: 1024, timeoutMs: 240_000, disk });
  const after = second.result;
  t.equal(after('db-active-at-boot'), 'no', 'after the reboot the half-copied LV was not activated');
  t.equal(after('doctor'), '1', 'doctor says a reboot stopped it');
  t.match(
    second.json('activate'),
    { activated: [{ volume: 'db', hydration: /goes on: [1-9]/ }] },
    'activate: it goes on where it stopped',
  );
  t.match(after('db-copying'), /^\d+ 128$/);
  t.match(second.json('status'), { hydrations: [{ volume: 'db', state: 'finished' }] });
  t.equal(after('table'), 'linear', 'the LV is linear again');
  t.equal(after('autoactivation'), 'enabled', 'and activated at boot again');
  t.equal(after('fsck'), 'clean');
  t.equal(after('file1'), 'same no-junk', "it holds the QRV's files");
  t.equal(after('during'), 'same', 'and the file written before the reboot');
  t.match(
    second.json('orphan'),
    { findings: [{ kind: 'leftover', subject: 'j-orphan', fixed: true }] },
    'doctor --fix removes helpers no volume records',
  );
  t.equal(after('helpers'), '0 0', 'nothing of the copy is left (nor of the orphan)');
});
