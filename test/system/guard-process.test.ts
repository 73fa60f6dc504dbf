// The guard program (src/system/guard-process.ts), started as qrv starts it (startGuard: from the
// sources here, through tsx): it cleans up when qrv's end of its stdin closes or its deadline
// passes, and not when told all is well. The freeze guard's thaw of real frozen filesystems is
// tested as root in freeze.test.ts; here the mount guard's cleanup of a folder is what shows.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startGuard } from '../../src/system/guard.ts';
import { guardPlan, isMounted } from '../../src/system/guard-process.ts';
import { tmpDir } from '../helpers/tmp.ts';

const failure = { code: 'mount-guard', name: 'mount guard', nothingDone: 'nothing was mounted' } as const;

async function mountpoint(t: Test): Promise<string> {
  const outer = path.join(await tmpDir(t), 'qrv-browse-x');
  await fs.mkdir(path.join(outer, 'mnt'), { recursive: true });
  return path.join(outer, 'mnt');
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

t.test('told "done", the mount guard leaves the folder alone', async (t) => {
  const point = await mountpoint(t);
  const { guard } = await startGuard('mount', { QRV_MOUNT_POINT: point }, failure);
  guard.ref(); // startGuard lets qrv exit without waiting for it; this test waits
  guard.stdin?.end('done\n');
  const end = await guard;
  t.equal(end.exitCode, 0);
  t.ok(await exists(point), 'the mountpoint is still there');
});

t.test('when qrv is gone (its stdin closes), the mount guard removes the mountpoint and its folder', async (t) => {
  const point = await mountpoint(t);
  const { guard } = await startGuard('mount', { QRV_MOUNT_POINT: point }, failure);
  guard.ref(); // startGuard lets qrv exit without waiting for it; this test waits
  guard.stdin?.end();
  const end = await guard;
  t.equal(end.exitCode, 0);
  t.notOk(await exists(point), 'mountpoint removed');
  t.notOk(await exists(path.dirname(point)), 'its folder removed');
});

t.test('the freeze guard ends on its own at its deadline, and ignores SIGINT and SIGHUP', async (t) => {
  const started = Date.now();
  const { guard } = await startGuard('freeze', { QRV_GUARD_POINTS: '[]', QRV_GUARD_MS: '700' }, failure);
  guard.ref(); // startGuard lets qrv exit without waiting for it; this test waits
  guard.kill('SIGINT');
  guard.kill('SIGHUP');
  const end = await guard;
  t.equal(end.exitCode, 0, 'exited by itself');
  t.ok(Date.now() - started >= 600, 'not before its deadline');
});

t.test('an unknown guard kind is no plan; mountpoints are read as /proc/self/mounts escapes them', async (t) => {
  t.equal(guardPlan({}), undefined);
  t.equal(guardPlan({ QRV_GUARD: 'other' }), undefined);
  t.equal(guardPlan({ QRV_GUARD: 'mount', QRV_MOUNT_POINT: '/x' })?.done, 'done');
  t.equal(guardPlan({ QRV_GUARD: 'freeze', QRV_GUARD_MS: '5' })?.deadlineMs, 5);
  const mounts = '/dev/loop0 /tmp/a\\040b ext4 ro 0 0\n/dev/sda1 / ext4 rw 0 0\n';
  t.ok(isMounted('/tmp/a b', mounts));
  t.notOk(isMounted('/tmp/a', mounts));
});
