// A consistency group of LVs in the VM lane (test/vm/lane/vm-lvm-group.sh), on every kernel the
// lane has: from Linux 6.8 a device suspend's freeze nests inside FIFREEZE, and qrv holds the
// whole group (a classic and a thin LV) frozen in one window while lvcreate snapshots each; an
// older kernel (Debian 12's 6.1) cannot, and every job says the group is consistent per volume.
import t from 'tap';
import { blockFreezeNests } from '../../../src/system/freeze.ts';
import { vmKernels, vmLane, vmScript, vmTestTimeout } from '../../helpers/vm.ts';

t.setTimeout(vmTestTimeout(2 * 300_000));

t.test('a group of a classic and a thin LV under a writer', async (t) => {
  if (!vmLane(t)) return;
  const kernels = vmKernels();
  if (!kernels.some((k) => blockFreezeNests(k))) {
    const message = `no kernel ≥ 6.8 in /boot (${kernels.join(', ')}): the one-window group hold cannot be tested (.ci/run installs one from bookworm-backports)`;
    if (process.env.CI === 'true') t.fail(message);
    else t.comment(message);
  }
  for (const kernel of kernels) {
    await t.test(`kernel ${kernel}`, async (t) => {
      const { result, json } = await vmScript(t, 'test/vm/lane/vm-lvm-group.sh', {
        diskMiB: 512,
        memoryMiB: 1024,
        timeoutMs: 300_000,
        kernel,
      });
      t.equal(result('kernel'), kernel, 'booted the kernel asked for');
      const group = json('group');
      t.equal(group.snapshots?.length, 2, 'both LVs snapshotted');
      t.ok(
        group.snapshots?.every(
          (s: { groupId: string; state: string }) => s.groupId === group.groupId && s.state === 'ready',
        ),
        'ready, with one group id',
      );
      t.match(
        Object.fromEntries(group.snapshots.map((s: { volume: string; method: string }) => [s.volume, s.method])),
        { db: 'lvm-classic', web: 'lvm-thin' },
      );
      const db = Number(result('counter-db'));
      const web = Number(result('counter-web'));
      t.ok(db > 0 && web > 0, `the writer ran before the snapshots (db ${db}, web ${web})`);
      t.equal(result('writable'), 'yes', 'nothing is left frozen: both filesystems take writes after the job');
      const warnings: string[] = group.jobs?.flatMap((j: { warnings: string[] }) => j.warnings) ?? [];
      if (blockFreezeNests(kernel)) {
        t.ok(
          group.snapshots.every((s: { quiesce: string }) => s.quiesce === 'fsfreeze'),
          "each LV was frozen by qrv, in the group's window",
        );
        t.notOk(
          warnings.some((w) => /consistent per volume/.test(w)),
          'no per-volume warning',
          { warnings },
        );
        t.ok(
          db - web === 0 || db - web === 1,
          `one point in time: the snapshots' counters differ by at most the one write in between (db ${db}, web ${web})`,
        );
        const windows = group.snapshots.map((s: { suspendedMs: number }) => s.suspendedMs);
        t.ok(
          windows.every((ms: number) => ms > 0),
          `the group's freeze window was measured (${windows.join(', ')} ms)`,
        );
      } else {
        t.ok(
          group.snapshots.every((s: { quiesce: string }) => s.quiesce === 'dm-suspend'),
          "each LV under lvcreate's own suspend",
        );
        t.ok(
          group.jobs?.every((j: { warnings: string[] }) =>
            j.warnings.some((w) => /cannot nest a device suspend inside a freeze.*consistent per volume/.test(w)),
          ),
          'each job says the group is consistent per volume, and why',
        );
        t.comment(
          `per volume, the counters were db ${db}, web ${web} (a difference beyond one shows two points in time)`,
        );
      }
    });
  }
});
