// qrv end to end on mounted ext4 LVs in the VM lane (test/vm/lane/vm-lvm-e2e.sh): classic and
// thin snapshots of mounted filesystems, QRVs checked with e2fsck, updates from the provider's
// changed ranges compared block for block with the snapshot, a COW overflow refused and cleaned;
// the sqlite writer on an LV: a database of nobody's found on the LV's volume, held (by sqlite3
// run as nobody, through runuser) while the LV is snapshotted, recovered by name from the
// snapshot with exactly the rows committed before it. Its own file so that tap runs it beside
// the contract run.
import t, { type Test } from 'tap';
import { lane } from '../../helpers/lanes.ts';
import { vmLane, vmScript, vmTestTimeout } from '../../helpers/vm.ts';

// A VM run under software emulation, beside others when tap runs three files at once.
t.setTimeout(vmTestTimeout(420_000));

t.test(
  'qrv end to end on mounted ext4 LVs (classic and thin): frozen, snapshotted, copied, checked, updated from changed ranges',
  async (t) => {
    if (!vmLane(t)) return;
    const { result, json } = await vmScript(t, 'test/vm/lane/vm-lvm-e2e.sh', {
      diskMiB: 512,
      memoryMiB: 1024,
      timeoutMs: 420_000,
    });
    t.match(json('add'), { volume: { name: 'db', provider: 'lvm', path: '/dev/vge/db', sizeBytes: 64 * 1024 * 1024 } });
    t.match(
      json('discover'),
      { added: [{ name: 'web', provider: 'lvm', path: '/dev/vge/web' }], globs: ['lvm:vge/w*'] },
      'qrv discover --lvm added the thin LV',
    );
    for (const [lv, method] of [
      ['db', 'lvm-classic'],
      ['web', 'lvm-thin'],
    ] as const) {
      const ran = json(`run-${lv}`);
      t.match(
        ran,
        {
          snapshot: { quiesce: 'dm-suspend', method, state: 'ready' },
          qrv: { state: 'ready', destination: `/tmp/q/${lv}.qrv.img` },
        },
        `${lv}: the mounted LV was snapshotted (${method}; the kernel freezes it while lvcreate suspends the device) and copied; the snapshot kept`,
      );
      t.ok(ran.snapshot?.suspendedMs > 0, `${lv}: lvcreate took ${ran.snapshot?.suspendedMs} ms`);
      t.equal(result(`fsck-${lv}`), 'clean', `${lv}: the QRV is a clean ext4 filesystem`);
      const copy = json(`copy-${lv}`);
      t.match(
        copy,
        { copy: { method: 'provider' }, qrv: { state: 'ready' } },
        `${lv}: the update took the provider's changed ranges`,
      );
      t.ok(
        copy.copy?.changedBlocks > 0 && copy.copy?.changedBlocks < 64,
        `${lv}: only changed blocks written (${copy.copy?.changedBlocks} of 1024)`,
      );
      t.ok(
        copy.copy?.bytesRead < 16 * 1024 * 1024,
        `${lv}: and only changed ranges read (${copy.copy?.bytesRead} bytes)`,
      );
      t.equal(result(`fsck2-${lv}`), 'clean', `${lv}: the updated QRV is clean too`);
      t.match(
        json(`deep-${lv}`),
        { ok: true, deep: true, snapshotDiffers: [], badCount: 0 },
        `${lv}: verify --deep: the QRV equals the snapshot, block for block`,
      );
    }
    t.ok(Number(result('filling-percent')) >= 80, `the COW store filled to ${result('filling-percent')} %`);
    t.match(
      json('filling-cron'),
      { failures: [], cowWarnings: [/copy-on-write store is \d+\.\d % full/] },
      'qrv cron warns before it is full',
    );
    t.equal(result('overflow-cron'), '11', 'and fails (exit 11) once it overflowed');
    t.match(result('overflow-attr'), /^s[rw]i-I-s/, 'the overflowed snapshot is Invalid');
    t.equal(result('overflow-copy'), '4', 'copying from it is refused (exit 4)');
    t.match(result('overflow-copy-error'), /overflowed its copy-on-write store.*invalid/, 'with a one-line reason');
    t.equal(result('overflow-doctor'), '11', 'doctor finds it');
    t.match(json('overflow-doctor-json'), { findings: [{ kind: 'invalid-snapshot' }] });
    t.equal(result('overflow-fix'), '0', 'doctor --fix removes it');
    t.match(json('overflow-after'), { snapshot: { state: 'failed' } }, 'and marks it failed');
    // the initramfs has sqlite3 when the host has it (test/vm/build-initramfs.sh)
    if (lane(t, 'sqlite writer in the VM', { tools: ['sqlite3'] })) appOnLv(t, result, json);
    writtenBack(t, result, json);
    t.equal(result('doctor'), '0', 'doctor finds nothing at the end');
    t.equal(result('lvs').trim().split(' ').sort().join(' '), 'db pool web', 'no snapshot LV is left');
  },
);

/** Each LV recovered over itself from its QRV, writing only what differs (issue 16). */
function writtenBack(t: Test, result: (name: string) => string, json: (name: string) => Record<string, any>) {
  const MiB = 1024 * 1024;
  const web = json('wb-web');
  t.match(
    web,
    { method: 'provider', before: /^s-[0-9a-f]{12}$/ },
    "web (thin): the provider's ranges, from a snapshot taken first",
  );
  t.ok(
    web.bytesWritten > 0 && web.bytesWritten < 16 * MiB,
    `web: wrote only what changed (${web.bytesWritten} bytes of 64 MiB)`,
  );
  t.ok(web.bytesRead < 16 * MiB, `web: and read as little (${web.bytesRead} bytes)`);
  const db = json('wb-db');
  // db's snapshot the QRV reflects overflowed above (doctor --fix removed it) unless its store held
  t.match(db, { method: /^(provider|ledger)$/ }, `db (classic): ${db.method}`);
  if (db.method === 'ledger')
    t.equal(db.bytesRead, 64 * MiB + db.bytesWritten, 'db: the LV read once, the QRV only where it differs');
  for (const lv of ['web', 'db']) {
    t.equal(result(`wb-${lv}-same`), 'same', `${lv}: the LV is its QRV again, byte for byte`);
    t.equal(result(`wb-${lv}-fsck`), 'clean', `${lv}: e2fsck-clean`);
  }
}

/** The sqlite writer's part of the script: a database of nobody's on the classic LV db (/mnt/db). */
function appOnLv(t: Test, result: (name: string) => string, json: (name: string) => Record<string, any>) {
  const db = '/mnt/db/app.db';
  const paths = [db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
  t.ok(Number(result('app-wal-before')) > 0, `the rows were in the WAL before (${result('app-wal-before')} bytes)`);
  t.same(
    json('app-list').objects,
    [{ id: `sqlite:${db}`, writer: 'sqlite', instance: '/mnt/db', name: 'app.db', paths, volumes: ['db'] }],
    'qrv app list: the database is on the LV volume db (its mount, /dev/mapper/vge-db, is /dev/vge/db)',
  );
  const snapshots = json('app-snap').snapshots;
  t.equal(snapshots?.length, 1, 'snap --object snapshotted one volume');
  t.match(snapshots?.[0], { volume: 'db', method: 'lvm-classic', state: 'ready' });
  t.same(
    snapshots?.[0]?.objects?.map((o: Record<string, unknown>) => [o.writer, o.name, o.places]),
    [['sqlite', 'app.db', paths.map((p) => ({ path: p, volume: 'db', inside: p.slice('/mnt/db'.length) }))]],
    'the snapshot row records the database and where its files are on the LV',
  );
  t.match(snapshots?.[0]?.objects?.[0]?.position, /^\d+ pages$/, 'its position was read while held');
  const step = json('app-step');
  t.match(step, { message_type: 'step', step: 'hold writers', state: 'done' }, 'the writer was held');
  // (the frames it says are wal_checkpoint(TRUNCATE)'s, 0 once the WAL is truncated: its size tells)
  t.match(
    step.detail,
    /^sqlite:\/mnt\/db\/app\.db: WAL checkpointed \(\d+ frames\), write lock held \(journal mode wal\)$/,
  );
  t.equal(result('app-wal-after'), '0', 'its WAL was checkpointed into the file and truncated while held');
  t.equal(result('app-holder').trim(), 'nobody', 'the lock was held by sqlite3 as the database owner nobody (runuser)');
  t.match(
    json('app-recover'),
    {
      object: `sqlite:${db}`,
      groupId: snapshots?.[0]?.groupId,
      copies: [{ volume: 'db', id: snapshots?.[0]?.id, kind: 'snapshot' }],
      to: '/tmp/out.db',
      integrity: 'ok',
    },
    'recovered by name, read out of the LV snapshot',
  );
  t.equal(result('app-check').trim(), 'ok', 'the recovered database passes integrity_check');
  t.equal(
    result('app-rows'),
    `300|1|300|${(300 * 301) / 2}`,
    'and holds exactly rows 1-300, committed before the snapshot',
  );
  t.equal(result('app-live'), '400|400', 'while the live database went on to 400');
}
