// The dm provider against a real device-mapper kernel: boots the VM lane twice, once for the
// shared provider contract and the provider's own checks (test/helpers/vm-dm-contract.ts), whose
// TAP it reads, and once for qrv end to end on a plain block device (test/helpers/vm-dm-e2e.sh),
// a reboot and `qrv volume activate` included.
// `npm run build` first: the end-to-end script runs the built bin/qrv.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT, runInVm, vmLane } from '../../helpers/vm.ts';

// Two VM runs of 1–3 minutes each under software emulation: more than the runner's 300 s default.
t.setTimeout(540_000);

t.test('dm provider: the contract and its own checks in the VM lane', async (t) => {
  if (!vmLane(t)) return;
  const run = await runInVm('cd /repo && node --import tsx test/helpers/vm-dm-contract.ts 2>&1', { diskMiB: 1024, memoryMiB: 1024, timeoutMs: 200_000 });
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  const failures = run.output.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# (SKIP|TODO)/.test(line));
  const passes = run.output.split('\n').filter((line) => /^\s*ok /.test(line)).length;
  t.equal(run.exitCode, 0, 'the contract run succeeded', { output: run.output.slice(-4000) });
  t.same(failures, [], 'no failed assertion');
  t.ok(passes >= 85, `${passes} assertions passed inside the VM`);
  for (const name of ['the shared contract', 'adopt and release leave the device byte for byte as it was', 'refusals, and nothing left half made', 'a snapshot of a mounted filesystem is a clean filesystem', 'a COW device: one snapshot at a time, changed ranges read from it', 'a COW store that overflows makes the snapshot invalid']) {
    t.match(run.output, new RegExp(`^ok \\d+ - ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), `ran and passed: ${name}`);
  }
});

t.test('qrv end to end on a plain device: adopted, snapshotted, copied, updated from changed ranges, activated after a reboot, given back', async (t) => {
  if (!vmLane(t)) return;
  const script = await fs.readFile(path.join(REPO_ROOT, 'test/helpers/vm-dm-e2e.sh'), 'utf8');
  const run = await runInVm(script, { diskMiB: 256, memoryMiB: 1024, timeoutMs: 270_000 });
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  t.equal(run.exitCode, 0, 'the script succeeded', { output: run.output.slice(-4000) });
  const result = (name: string): string => new RegExp(`^RESULT ${name} (.*)$`, 'm').exec(run.output)?.[1] ?? '';
  const json = (name: string): Record<string, any> => JSON.parse(result(name) || '{}');
  t.equal(result('add-mounted'), '4 device-busy', 'a mounted device is refused (exit 4)');
  t.equal(result('add-path-and-device'), '2 path-and-device');
  t.equal(result('add-device-file'), '2 device-needs-dm');
  t.match(json('add'), { volume: { name: 'x', provider: 'dm', path: '/dev/mapper/qrv-x', sizeBytes: 64 * 1024 * 1024, options: { device: '/dev/mapper/plain', cowDir: '/tmp/qrv-home/cow', cowPercent: '25' } } });
  t.match(result('table-added'), /^0 131072 linear \d+:\d+ 0$/, 'qrv-x is linear over the device');
  const ran = json('run');
  t.match(ran, { snapshot: { quiesce: 'fsfreeze', method: 'dm-snapshot', state: 'ready', handle: /^qrv-x-snap-s-/ }, qrv: { state: 'ready', destination: '/tmp/q/x.qrv.img' }, copy: { method: 'full' } }, 'the mounted filesystem was frozen by qrv, snapshotted (suspend --nolockfs), copied');
  t.ok(ran.snapshot?.suspendedMs > 0, `suspended ${ran.snapshot?.suspendedMs} ms`);
  t.match(result('table-snapshotted'), /^0 131072 snapshot-origin \d+:\d+$/, 'qrv-x became a snapshot-origin');
  t.equal(result('fsck'), 'clean', 'the QRV is a clean ext4 filesystem');
  t.match(json('copy'), { copy: { method: 'provider' }, qrv: { state: 'ready' } }, 'the update read only the ranges the exception stores list');
  t.ok(json('copy').copy?.changedBlocks > 0 && json('copy').copy?.changedBlocks < 64, `only changed blocks written (${json('copy').copy?.changedBlocks})`);
  t.ok(json('copy').copy?.bytesRead < 8 * 1024 * 1024, `and only those read (${json('copy').copy?.bytesRead} bytes)`);
  t.equal(result('fsck2'), 'clean', 'the updated QRV is clean too');
  t.equal(result('cmp'), 'same', 'and equal to the snapshot byte for byte');
  t.equal(result('remove-with-snapshots'), '4 volume-has-snapshots');
  // a reboot (tables and loop devices gone, COW files kept), then `qrv volume activate --all`
  t.equal(result('inactive'), '8 volume-inactive', 'before activation a snapshot fails with volume-inactive');
  t.match(json('activate'), { activated: [{ volume: 'x', originCreated: true, attached: [/^s-/, /^s-/], failed: [] }] }, 'both snapshots attached again');
  t.equal(result('activated-origin'), 'same', 'the origin reads as before the reboot');
  t.equal(result('activated-snapshot'), 'same', 'the older snapshot too (its exceptions read back from the COW file)');
  t.match(json('copy3'), { copy: { method: 'provider' }, qrv: { state: 'ready' } }, 'an update after the reboot still uses the changed ranges');
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
  t.equal(result('mount-device').trim(), 'file1 file2 file3 lost+found', 'the device mounts directly, with the files');
});
