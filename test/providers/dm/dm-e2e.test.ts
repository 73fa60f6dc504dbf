// qrv end to end with dm volumes in the VM lane (test/vm/lane/vm-dm-e2e.sh): a plain block device
// taken over by `qrv volume add --provider dm --device`, snapshotted while mounted, copied,
// updated from the exception stores' changed ranges, a group of two dm volumes held frozen in one
// window, a reboot and `qrv volume activate`, and the device given back by `qrv volume remove`.
// `npm run build` first: the script runs the built bin/qrv.
import t from 'tap';
import { vmLane, vmScript, vmTestTimeout } from '../../helpers/vm.ts';

// A VM run under software emulation, beside others when tap runs three files at once.
t.setTimeout(vmTestTimeout(420_000));

t.test(
  'qrv end to end on a plain device: adopted, snapshotted, copied, updated from changed ranges, activated after a reboot, given back',
  async (t) => {
    if (!vmLane(t)) return;
    const { output, result, json } = await vmScript(t, 'test/vm/lane/vm-dm-e2e.sh', {
      diskMiB: 256,
      memoryMiB: 1024,
      timeoutMs: 420_000,
    });
    t.equal(result('add-mounted'), '4 device-busy', 'a mounted device is refused (exit 4)');
    t.equal(result('add-path-and-device'), '2 path-and-device');
    t.equal(result('add-device-file'), '2 device-needs-dm');
    t.match(json('add'), {
      volume: {
        name: 'x',
        provider: 'dm',
        path: '/dev/mapper/qrv-x',
        sizeBytes: 64 * 1024 * 1024,
        options: { device: '/dev/mapper/plain', cowDir: '/tmp/qrv-home/cow', cowPercent: '25' },
      },
    });
    t.match(result('table-added'), /^0 131072 linear \d+:\d+ 0$/, 'qrv-x is linear over the device');
    const ran = json('run');
    t.match(
      ran,
      {
        snapshot: { quiesce: 'fsfreeze', method: 'dm-snapshot', state: 'ready', handle: /^qrv-x-snap-s-/ },
        qrv: { state: 'ready', destination: '/tmp/q/x.qrv.img' },
        copy: { method: 'full' },
      },
      'the mounted filesystem was frozen by qrv, snapshotted (suspend --nolockfs), copied',
    );
    t.ok(ran.snapshot?.suspendedMs > 0, `suspended ${ran.snapshot?.suspendedMs} ms`);
    t.match(result('table-snapshotted'), /^0 131072 snapshot-origin \d+:\d+$/, 'qrv-x became a snapshot-origin');
    t.equal(result('fsck'), 'clean', 'the QRV is a clean ext4 filesystem');
    t.match(
      json('copy'),
      { copy: { method: 'provider' }, qrv: { state: 'ready' } },
      'the update read only the ranges the exception stores list',
    );
    t.ok(
      json('copy').copy?.changedBlocks > 0 && json('copy').copy?.changedBlocks < 64,
      `only changed blocks written (${json('copy').copy?.changedBlocks})`,
    );
    t.ok(json('copy').copy?.bytesRead < 8 * 1024 * 1024, `and only those read (${json('copy').copy?.bytesRead} bytes)`);
    t.equal(result('fsck2'), 'clean', 'the updated QRV is clean too');
    t.equal(result('cmp'), 'same', 'and equal to the snapshot byte for byte');
    t.equal(result('remove-with-snapshots'), '4 volume-has-snapshots');
    const group = json('group');
    t.equal(group.snapshots?.length, 2, 'a group of two dm volumes');
    t.ok(
      group.snapshots?.every(
        (s: { quiesce: string; suspendedMs: number; groupId: string }) =>
          s.quiesce === 'fsfreeze' && s.suspendedMs >= 1500 && s.groupId === group.groupId,
      ),
      `both filesystems frozen by qrv through the one held window (${group.snapshots?.map((s: { suspendedMs: number }) => s.suspendedMs).join(', ')} ms)`,
    );
    t.ok(
      group.jobs?.every((j: { warnings: string[] }) => j.warnings.length === 0),
      'no warning: dm volumes are held for the whole group',
    );
    t.ok(
      Number(result('group-write-ms')) >= 300,
      `a write to y during the window waited for the thaw (${result('group-write-ms')} ms)`,
    );
    const fscks = output.split('\n').filter((line) => line.startsWith('RESULT group-fsck-'));
    t.equal(fscks.length, 2);
    t.ok(
      fscks.every((line) => line.endsWith(' clean')),
      'both group snapshots are clean filesystems',
    );
    t.match(json('remove-y'), { volume: { name: 'y' } });
    // a reboot (tables and loop devices gone, COW files kept), then `qrv volume activate --all`
    t.equal(result('inactive'), '8 volume-inactive', 'before activation a snapshot fails with volume-inactive');
    t.match(
      json('activate'),
      { activated: [{ volume: 'x', originCreated: true, attached: [/^s-/, /^s-/], failed: [] }] },
      'both snapshots attached again',
    );
    t.equal(result('activated-origin'), 'same', 'the origin reads as before the reboot');
    t.equal(
      result('activated-snapshot'),
      'same',
      'the older snapshot too (its exceptions read back from the COW file)',
    );
    t.match(
      json('copy3'),
      { copy: { method: 'provider' }, qrv: { state: 'ready' } },
      'an update after the reboot still uses the changed ranges',
    );
    t.equal(result('cmp3'), 'same', 'and the QRV equals the newest snapshot');
    t.match(json('unsnap2'), { snapshot: { state: 'removed' } });
    t.match(result('table-unsnapped'), /^0 131072 linear \d+:\d+ 0$/, 'linear again once the last snapshot is gone');
    t.equal(result('doctor'), '0', 'doctor finds nothing');
    t.equal(result('remove-mounted'), '4 device-busy', 'a mounted volume is not removed');
    t.equal(result('list-after-refusal'), '1', 'and stays in the catalog');
    t.match(json('remove'), { volume: { name: 'x' } });
    t.equal(result('device'), 'same', 'the device holds what qrv-x held');
    t.equal(result('qrv-devices'), '0', 'no qrv device is left');
    t.equal(result('loops'), '0', 'no loop device is left');
    t.equal(result('cow-files'), '0', 'no COW file is left');
    t.equal(
      result('mount-device').trim(),
      'file1 file2 file3 lost+found',
      'the device mounts directly, with the files',
    );
  },
);
