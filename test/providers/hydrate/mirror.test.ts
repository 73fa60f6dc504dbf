// The mirror of instant recovery, as text: its tables and the parser of its status, against what
// dmsetup printed in the VM lane (fixtures/dmsetup/*mirror*); the sizes of its COW store and log.
import fs from 'node:fs/promises';
import t from 'tap';
import {
  cowBytes,
  hydrationNames,
  hydrationUuid,
  logBytes,
  mirrorTable,
  parseMirrorStatus,
  sourceTable,
} from '../../../src/providers/hydrate/mirror.ts';

const fixture = (name: string) => fs.readFile(new URL(`../../../fixtures/dmsetup/${name}`, import.meta.url), 'utf8');

t.test('the mirror table is the one the kernel took', async (t) => {
  const table = mirrorTable(131072, { log: '7:2', source: '7:0', primary: '7:1' });
  t.equal(`${table}\n`, await fixture('table-mirror.txt'), 'dmsetup table prints back what was loaded');
  t.equal(sourceTable(131072, '7:0', '7:1'), '0 131072 snapshot 7:0 7:1 P 8');
});

t.test('status: copying, in sync, core log; anything else is not a mirror', async (t) => {
  t.same(parseMirrorStatus(await fixture('status-mirror-copying.txt')), {
    synced: 10,
    total: 128,
    legs: 'AA',
    log: 'A',
  });
  t.same(parseMirrorStatus(await fixture('status-mirror-synced.txt')), {
    synced: 128,
    total: 128,
    legs: 'AA',
    log: 'A',
  });
  t.same(parseMirrorStatus(await fixture('status-mirror-core.txt')), { synced: 51, total: 128, legs: 'AA', log: 'A' });
  t.same(
    parseMirrorStatus('0 131072 mirror 2 7:0 7:1 3/128 1 AD 3 disk 7:2 A'),
    { synced: 3, total: 128, legs: 'AD', log: 'A' },
    'a dead leg',
  );
  t.same(parseMirrorStatus('0 131072 mirror 2 7:0 7:1 3/128 1 AA 3 disk 7:2 D')?.log, 'D', 'a dead log');
  t.equal(
    parseMirrorStatus('0 131072 mirror 2 7:0 7:1 3/128 1 A 3 disk 7:2 A'),
    null,
    'one health letter for two legs',
  );
  t.equal(parseMirrorStatus('0 131072 linear '), null);
  t.equal(parseMirrorStatus(await fixture('status-snapshot-used.txt')), null);
  t.equal(parseMirrorStatus(`${await fixture('status-mirror-synced.txt')}0 1 linear\n`), null, 'two segments');
});

t.test('names and sizes', async (t) => {
  t.same(hydrationNames('j-1'), { source: 'qrv-hyd-j-1-src', primary: 'qrv-hyd-j-1-prim' });
  t.equal(hydrationUuid('qrv-hyd-j-1-src'), 'QRV-HYD-j-1-src');
  const GiB = 2 ** 30;
  t.ok(
    cowBytes(GiB) >= GiB + GiB / 256 && cowBytes(GiB) % 4096 === 0,
    'the COW store holds the whole volume and its index',
  );
  t.equal(logBytes(64 * 2 ** 20), 2 ** 20, 'at least 1 MiB');
  t.ok(logBytes(16 * 2 ** 40) >= 4096 + (16 * 2 ** 40) / (512 * 1024) / 8, 'a bit per region of 16 TiB');
});
