// The dm provider against a real device-mapper kernel: boots the VM lane for the shared provider
// contract and the provider's own checks (test/vm/lane/vm-dm-contract.ts) and reads the TAP it
// printed. qrv end to end with dm volumes is in dm-e2e.test.ts.
import t from 'tap';
import { vmLane, vmTapFile, vmTestTimeout } from '../../helpers/vm.ts';

// A VM run under software emulation, beside others when tap runs three files at once.
t.setTimeout(vmTestTimeout(420_000));

t.test('dm provider: the contract and its own checks in the VM lane', async (t) => {
  if (!vmLane(t)) return;
  const output = await vmTapFile(t, 'test/vm/lane/vm-dm-contract.ts', {
    diskMiB: 1024,
    memoryMiB: 1024,
    timeoutMs: 420_000,
    minPasses: 85,
  });
  for (const name of [
    'the shared contract',
    'adopt and release leave the device byte for byte as it was',
    'refusals, and nothing left half made',
    'a snapshot of a mounted filesystem is a clean filesystem',
    'a COW device: one snapshot at a time, changed ranges read from it',
    'a COW store that overflows makes the snapshot invalid',
  ]) {
    t.match(
      output,
      new RegExp(`^ok \\d+ - ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'),
      `ran and passed: ${name}`,
    );
  }
});
