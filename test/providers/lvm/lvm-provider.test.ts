// The lvm provider against a real device-mapper kernel: boots the VM lane once and runs the
// shared provider contract (classic and thin LVs) and the provider's own checks inside it
// (test/helpers/vm-lvm-contract.ts), then reads the TAP it printed.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT, runInVm, vmLane } from '../../helpers/vm.ts';

t.test('lvm provider: the contract and its own checks in the VM lane', async (t) => {
  if (!vmLane(t)) return;
  const run = await runInVm('cd /repo && node --import tsx test/helpers/vm-lvm-contract.ts 2>&1', { diskMiB: 1024, memoryMiB: 1024, timeoutMs: 150_000 });
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  const failures = run.output.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# (SKIP|TODO)/.test(line));
  const passes = run.output.split('\n').filter((line) => /^\s*ok /.test(line)).length;
  t.equal(run.exitCode, 0, 'the contract run succeeded', { output: run.output.slice(-4000) });
  t.same(failures, [], 'no failed assertion');
  t.ok(passes >= 40, `${passes} assertions passed inside the VM`);
  t.match(run.output, /# Subtest: classic LVs/);
  t.match(run.output, /# Subtest: thin LVs/);
});

t.test('qrv end to end on a mounted ext4 LV: frozen, snapshotted, copied, checked, updated', async (t) => {
  if (!vmLane(t)) return;
  const script = await fs.readFile(path.join(REPO_ROOT, 'test/helpers/vm-lvm-e2e.sh'), 'utf8');
  const run = await runInVm(script, { diskMiB: 512, memoryMiB: 1024, timeoutMs: 150_000 });
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  t.equal(run.exitCode, 0, 'the script succeeded', { output: run.output.slice(-4000) });
  const result = (name: string): string => new RegExp(`^RESULT ${name} (.*)$`, 'm').exec(run.output)?.[1] ?? '';
  const json = (name: string): Record<string, any> => JSON.parse(result(name) || '{}');
  t.match(json('add'), { volume: { name: 'db', provider: 'lvm', path: '/dev/vge/db', sizeBytes: 64 * 1024 * 1024 } });
  const ran = json('run');
  t.match(ran, { snapshot: { quiesce: 'dm-suspend', method: 'lvm-classic', state: 'removed' }, qrv: { state: 'ready', destination: '/tmp/q/db.qrv.img' } }, 'the mounted LV was snapshotted (classic; the kernel freezes it while lvcreate suspends the device), copied, the snapshot removed');
  t.ok(ran.snapshot?.suspendedMs > 0, `lvcreate took ${ran.snapshot?.suspendedMs} ms`);
  t.equal(result('fsck'), 'clean', 'the QRV is a clean ext4 filesystem');
  t.match(json('copy'), { copy: { method: 'ledger' }, qrv: { state: 'ready' } }, 'the update went through the ledger');
  t.ok(json('copy').copy?.changedBlocks > 0 && json('copy').copy?.changedBlocks < 1024, `only changed blocks written (${json('copy').copy?.changedBlocks})`);
  t.equal(result('fsck2'), 'clean', 'the updated QRV is clean too');
  t.equal(result('doctor'), '0', 'doctor finds nothing');
  t.equal(result('lvs').trim(), 'db', 'no snapshot LV is left');
});
