// The lvm provider against a real device-mapper kernel: boots the VM lane once and runs the
// shared provider contract (classic and thin LVs) and the provider's own checks inside it
// (test/helpers/vm-lvm-contract.ts), then reads the TAP it printed. The end-to-end run is in
// lvm-e2e.test.ts.
import t from 'tap';
import { runInVm, vmLane } from '../../helpers/vm.ts';

// A VM run under software emulation, beside another one when tap runs two files at once.
t.setTimeout(600_000);

t.test('lvm provider: the contract and its own checks in the VM lane', async (t) => {
  if (!vmLane(t)) return;
  const run = await runInVm('cd /repo && node --import tsx test/helpers/vm-lvm-contract.ts 2>&1', { diskMiB: 1024, memoryMiB: 1024, timeoutMs: 420_000 });
  t.comment(`VM run ${run.seconds.toFixed(1)} s`);
  const failures = run.output.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# (SKIP|TODO)/.test(line));
  const passes = run.output.split('\n').filter((line) => /^\s*ok /.test(line)).length;
  t.equal(run.exitCode, 0, 'the contract run succeeded', { output: run.output.slice(-4000) });
  t.same(failures, [], 'no failed assertion');
  t.ok(passes >= 40, `${passes} assertions passed inside the VM`);
  t.match(run.output, /# Subtest: classic LVs/);
  t.match(run.output, /# Subtest: thin LVs/);
});
