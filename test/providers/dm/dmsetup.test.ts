// The dm provider's dmsetup parsers against output captured in the VM lane (fixtures/dmsetup/),
// and its names: which devices are qrv's own. Runs on the host (pure functions, no dm).
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import {
  collidingName,
  dmsetupReason,
  parseInfo,
  parseSnapshotStatus,
  parseTable,
  snapshotIdOfDevice,
  snapshotIdOfHandle,
} from '../../../src/providers/dm/dmsetup.ts';
import { mergeRanges } from '../../../src/core/byte-range.ts';
import { REPO_ROOT } from '../../helpers/vm.ts';

const fixture = (name: string): Promise<string> => fs.readFile(path.join(REPO_ROOT, 'fixtures/dmsetup', name), 'utf8');

t.test('parseInfo reads the captured info report', async (t) => {
  const rows = parseInfo(await fixture('info.txt'));
  t.same(rows, [
    { name: 'plain1', uuid: '', open: 1, major: 253, minor: 0 },
    { name: 'qrv-a', uuid: 'QRV-a', open: 1, major: 253, minor: 1 },
    { name: 'qrv-a-real', uuid: 'QRV-a-real', open: 2, major: 253, minor: 2 },
    { name: 'qrv-a-snap-s-00000001', uuid: 'QRV-a-snap-s-00000001', open: 0, major: 253, minor: 3 },
  ]);
  t.same(parseInfo(await fixture('info-none.txt')), [], '"No devices found" is no device');
  t.equal(parseInfo('1|253|0\n'), null, 'too few fields');
  t.equal(parseInfo('x|253|0|U|n\n'), null, 'open count not a number');
  t.same(
    parseInfo('0|253|9||odd|name\n'),
    [{ name: 'odd|name', uuid: '', open: 0, major: 253, minor: 9 }],
    'a name with the separator in it stays whole',
  );
});

t.test("only devices named and labelled as this volume's snapshots are its snapshots", async (t) => {
  const rows = parseInfo(await fixture('info.txt')) ?? [];
  t.same(
    rows.map((r) => snapshotIdOfDevice('a', r)),
    [null, null, null, 's-00000001'],
  );
  const device = { name: 'qrv-a-snap-s-00000001', uuid: '', open: 0, major: 253, minor: 7 };
  t.equal(snapshotIdOfDevice('a', device), null, "the right name without qrv's UUID is foreign");
  t.equal(snapshotIdOfDevice('a', { ...device, uuid: 'QRV-b-snap-s-00000001' }), null, "another volume's UUID");
  t.equal(snapshotIdOfDevice('b', { ...device, uuid: 'QRV-a-snap-s-00000001' }), null, "another volume's name");
  t.equal(snapshotIdOfHandle('a', 'qrv-a-snap-s-0000000a'), 's-0000000a');
  t.equal(snapshotIdOfHandle('a', 'qrv-a-snap-x'), null, 'not a snapshot id');
  t.equal(snapshotIdOfHandle('a', 'qrv-ab-snap-s-0000000a'), null, 'volume ab is not a');
  t.equal(snapshotIdOfHandle('a', 'plain1'), null);
  t.equal(snapshotIdOfHandle('a-snap', 'qrv-a-snap-snap-s-00000001'), 's-00000001');
  t.equal(snapshotIdOfHandle('a', 'qrv-a-snap-snap-s-00000001'), null, "volume a-snap's snapshot is not a's");
  t.ok(
    collidingName('a-real') && collidingName('a-snap') && collidingName('a-snap-b'),
    "names that would look like another volume's devices",
  );
  t.notOk(
    collidingName('db') || collidingName('realm') || collidingName('snapshots') || collidingName('a-snapper'),
    'other names are fine',
  );
});

t.test('parseTable reads the captured tables', async (t) => {
  t.same(parseTable(await fixture('table-linear.txt')), [
    { start: 0, length: 32768, target: 'linear', args: ['253:0', '0'] },
  ]);
  t.same(parseTable(await fixture('table-origin.txt')), [
    { start: 0, length: 32768, target: 'snapshot-origin', args: ['253:2'] },
  ]);
  t.same(parseTable(await fixture('table-snapshot.txt')), [
    { start: 0, length: 32768, target: 'snapshot', args: ['253:2', '7:0', 'P', '8'] },
  ]);
  t.equal(parseTable('qrv-a: 0 32768 linear 253:0 0\n'), null, "the all-devices form is not one device's table");
  t.same(parseTable(''), [], 'a device with no table');
});

t.test('parseSnapshotStatus reads used, fresh and invalid snapshots', async (t) => {
  t.same(parseSnapshotStatus(await fixture('status-snapshot-fresh.txt')), {
    state: 'active',
    usedSectors: 16,
    totalSectors: 8192,
    metadataSectors: 16,
  });
  t.same(parseSnapshotStatus(await fixture('status-snapshot-used.txt')), {
    state: 'active',
    usedSectors: 96,
    totalSectors: 8192,
    metadataSectors: 16,
  });
  t.same(parseSnapshotStatus(await fixture('status-snapshot-invalid.txt')), { state: 'invalid' });
  t.same(
    parseSnapshotStatus('0 32768 snapshot Overflow\n'),
    { state: 'overflow' },
    "the kernel's other word for a full store",
  );
  t.same(parseSnapshotStatus('0 32768 snapshot Merge failed\n'), { state: 'merge-failed' });
  t.equal(parseSnapshotStatus(await fixture('table-linear.txt')), null, 'not a snapshot');
  t.equal(parseSnapshotStatus('0 32768 snapshot-origin \n'), null, 'an origin is not a snapshot');
  t.equal(parseSnapshotStatus('0 32768 snapshot 5/0 16\n'), null, 'a store of no size');
});

t.test('dmsetupReason picks the line that explains a failure', async (t) => {
  t.equal(
    dmsetupReason(await fixture('create-busy.stderr')),
    'device-mapper: reload ioctl on qrv-b (253:5) failed: Device or resource busy',
  );
  t.equal(dmsetupReason(await fixture('status-missing.stderr')), 'Device does not exist.');
  t.equal(dmsetupReason('Command failed.\n'), '');
});

t.test('mergeRanges: the union, sorted and merged', async (t) => {
  t.same(
    mergeRanges([
      { start: 8192, end: 12288 },
      { start: 0, end: 4096 },
      { start: 4096, end: 8192 },
      { start: 20480, end: 24576 },
      { start: 9000, end: 10000 },
    ]),
    [
      { start: 0, end: 12288 },
      { start: 20480, end: 24576 },
    ],
  );
  t.same(mergeRanges([]), []);
});
