// The lvm provider against a real device-mapper kernel: boots the VM lane once and runs the
// shared provider contract (classic and thin LVs) and the provider's own checks inside it
// (test/vm/lane/vm-lvm-contract.ts), then reads the TAP it printed. The end-to-end run is in
// lvm-e2e.test.ts.
import t from 'tap';
import { vmLane, vmTapFile, vmTestTimeout } from '../../helpers/vm.ts';

// A VM run under software emulation, beside others when tap runs three files at once.
t.setTimeout(vmTestTimeout(420_000));

t.test('lvm provider: the contract and its own checks in the VM lane', async (t) => {
  if (!vmLane(t)) return;
  const output = await vmTapFile(t, 'test/vm/lane/vm-lvm-contract.ts', {
    diskMiB: 1024,
    memoryMiB: 1024,
    timeoutMs: 420_000,
    minPasses: 80,
  });
  t.match(output, /# Subtest: classic LVs/);
  t.match(output, /# Subtest: thin LVs/);
});
