// `qrv doctor` after a qrv killed in the middle of a dm snapshot or of its removal (VM lane,
// test/vm/lane/vm-dm-doctor.sh): the pieces left (a suspended origin, -real, a loop device, a COW
// file) are reported as `leftover` findings, `doctor --fix` removes them, the device is linear
// again with its data unchanged, and a ready snapshot's pieces are never touched. A snapshot
// device made before a kill that came before the origin's resume is removed as unfinished, and
// so is one without a table (the state a kill inside `dmsetup create` leaves, made by hand).
// `npm run build` first: the script runs the built bin/qrv.
import t from 'tap';
import { vmLane, vmScript, vmTestTimeout } from '../../helpers/vm.ts';

t.setTimeout(vmTestTimeout(420_000));

interface Finding {
  kind: string;
  subject: string;
  fixed: boolean;
  error: string | null;
}

t.test('doctor finds and removes what a killed dm snapshot or removal left', async (t) => {
  if (!vmLane(t)) return;
  const { result, json } = await vmScript(t, 'test/vm/lane/vm-dm-doctor.sh', {
    diskMiB: 256,
    memoryMiB: 1024,
    timeoutMs: 420_000,
  });
  // from case two on the script reads the findings from doctor --fix's summary ("fix-only")
  const findings = (name: string): Finding[] =>
    (json(name).findings ?? json(name.replace(/-doctor$/, '-fix')).findings ?? []) as Finding[];
  const leftovers = (name: string): string[] =>
    findings(name)
      .filter((f) => f.kind === 'leftover')
      .map((f) => f.subject.replace(/loop\d+/, 'loopN').replace(/s-[0-9a-f]{12}/, 'ID'));
  const devices = (name: string): string[] => result(name).trim().split(/\s+/).sort();
  const clean = (step: string): void => {
    t.equal(result(`${step}-fix-status`), '0', `${step}: doctor --fix fixed everything`);
    t.ok(
      findings(`${step}-fix`).every((f) => f.fixed && f.error === null),
      `${step}: every finding done`,
    );
    t.equal(result(`${step}-again-status`), '0', `${step}: doctor finds nothing afterwards`);
    t.equal(result(`${step}-after-target`), 'linear', `${step}: qrv-x is linear again`);
    t.equal(result(`${step}-after-loops`), '0', `${step}: no loop device left`);
    t.equal(result(`${step}-after-cow`), '0', `${step}: no COW file left`);
  };
  t.match(json('add'), { volume: { name: 'x', provider: 'dm' } });

  // 1. killed with the origin suspended, before the snapshot was loaded
  t.equal(result('kill1'), '137', 'qrv snap was killed (SIGKILL)');
  t.same(devices('kill1-devices'), ['qrv-x:L-sw', 'qrv-x-real:L--w'].sort(), 'qrv-x left suspended, -real made');
  t.equal(result('kill1-loops'), '1');
  t.equal(result('kill1-cow'), '1');
  t.equal(result('one-doctor-status'), '11', 'doctor reports findings (exit 11)');
  t.same(
    leftovers('one-doctor'),
    ['qrv-x', 'qrv-x-real', '/dev/loopN', '/tmp/qrv-home/cow/x@ID.cow'],
    'the suspended origin, -real, the loop device and the COW file, in the order they are removed',
  );
  t.ok(
    findings('one-doctor').some((f) => f.kind === 'dead-job') &&
      findings('one-doctor').some((f) => f.kind === 'missing-snapshot'),
    'and the dead job and its snapshot row',
  );
  clean('one');
  t.same(devices('one-after-devices'), ['qrv-x:L--w'], 'only qrv-x is left, resumed');
  t.equal(result('one-data'), 'same', 'the volume reads as before, byte for byte');

  // 2. killed between prepareSnapshot and the snapshot (engine failpoint after-freeze)
  t.equal(result('kill2'), '137');
  t.same(devices('kill2-devices'), ['qrv-x:L--w', 'qrv-x-real:L--w'].sort(), 'origin linear and running, -real made');
  t.same(leftovers('two-doctor'), ['qrv-x-real', '/dev/loopN', '/tmp/qrv-home/cow/x@ID.cow']);
  clean('two');
  t.same(devices('two-after-devices'), ['qrv-x:L--w']);
  t.equal(result('two-data'), 'same');

  // 3. a snapshot works again; its removal killed with the origin suspended, still a snapshot-origin
  t.match(json('snap3'), { snapshot: { state: 'ready', method: 'dm-snapshot' } }, 'a snapshot after the fix');
  t.equal(result('snap3-data'), 'same', "and it reads the volume's data");
  t.equal(result('kill3'), '137', 'qrv unsnap was killed');
  t.same(devices('kill3-devices'), ['qrv-x:L-sw', 'qrv-x-real:L--w'].sort(), 'snapshot device gone, origin suspended');
  t.equal(result('kill3-target'), 'snapshot-origin');
  t.same(leftovers('three-doctor'), ['qrv-x', 'qrv-x-real', '/dev/loopN', '/tmp/qrv-home/cow/x@ID.cow']);
  clean('three');
  t.same(devices('three-after-devices'), ['qrv-x:L--w']);
  t.equal(result('three-data'), 'same');

  // 4. beside a ready snapshot: its -real, loop device and COW file stay
  t.match(json('snap4'), { snapshot: { state: 'ready' } });
  t.equal(result('kill4'), '137');
  const id4 = json('snap4').snapshot?.id as string;
  t.same(
    leftovers('four-doctor'),
    ['qrv-x', '/dev/loopN', '/tmp/qrv-home/cow/x@ID.cow'],
    "only the killed snapshot's pieces (-real is the ready snapshot's)",
  );
  t.notOk(
    findings('four-doctor').some((f) => f.subject.includes(id4)),
    'nothing of the ready snapshot',
  );
  t.equal(result('four-fix-status'), '0');
  t.equal(result('four-again-status'), '0');
  t.equal(result('four-after-target'), 'snapshot-origin', "qrv-x is still the ready snapshot's origin");
  t.same(devices('four-after-devices'), [`qrv-x:L--w`, `qrv-x-real:L--w`, `qrv-x-snap-${id4}:L--r`].sort());
  t.equal(result('four-after-loops'), '1');
  t.equal(result('four-cow'), 'kept');
  t.equal(
    result('four-snapshot'),
    'same',
    'the ready snapshot still reads its point in time after writes to the volume',
  );
  t.match(json('unsnap4'), { snapshot: { state: 'removed' } });
  t.same(devices('end-devices'), ['qrv-x:L--w'], 'and once it is removed, nothing of qrv but qrv-x');
  t.equal(result('end-target'), 'linear');
  t.equal(result('end-loops'), '0');
  t.equal(result('end-cow'), '0');

  // 5. killed before the resume: the snapshot device made, the origin's snapshot-origin table
  // loaded but not live; the snapshot is unfinished and would not see writes, so it goes too
  t.equal(result('kill5'), '137');
  const id5 = /^qrv-x-snap-(s-[0-9a-f]{12}):/m.exec(result('kill5-devices').split(' ').join('\n'))?.[1] ?? '';
  t.same(
    devices('kill5-devices'),
    ['qrv-x:LIsw', 'qrv-x-real:L--w', `qrv-x-snap-${id5}:L--r`].sort(),
    'origin suspended with an inactive table, -real and the snapshot device made',
  );
  t.equal(result('kill5-target'), 'linear', 'the live table is still linear');
  t.equal(result('kill5-inactive'), 'snapshot-origin', 'the snapshot-origin table is loaded but not live');
  t.same(leftovers('five-doctor'), ['qrv-x'], "the suspended origin is a leftover (the snapshot's own pieces are not)");
  t.ok(
    findings('five-doctor').some((f) => f.kind === 'unfinished-snapshot' && f.subject === id5),
    'the snapshot is unfinished',
  );
  t.ok(
    findings('five-doctor').some((f) => f.kind === 'dead-job'),
    'and its job dead',
  );
  clean('five');
  t.same(devices('five-after-devices'), ['qrv-x:L--w'], 'only qrv-x is left, resumed, without an inactive table');
  t.equal(result('five-data'), 'same');
  t.match(json('snap5'), { snapshot: { state: 'ready' } }, 'the next snapshot works');
  t.equal(result('snap5-data'), 'same');
  t.match(json('unsnap5'), { snapshot: { state: 'removed' } });
  t.same(devices('end5-devices'), ['qrv-x:L--w']);
  t.equal(result('end5-loops'), '0');
  t.equal(result('end5-cow'), '0');

  // 6. a snapshot device without a table (a kill inside `dmsetup create`, its state made by hand)
  t.equal(result('kill6'), '137');
  const id6 = result('id6');
  t.match(id6, /^s-[0-9a-f]{12}$/, "the killed snapshot's id, from its COW file");
  t.equal(result('kill6-snapshot-table'), '[]', 'the snapshot device has no table');
  t.ok(
    devices('kill6-devices').some((d) => d.startsWith(`qrv-x-snap-${id6}:`)),
    'it exists beside the suspended origin',
  );
  t.same(leftovers('six-doctor'), ['qrv-x'], 'the suspended origin is a leftover');
  t.ok(
    findings('six-doctor').some((f) => f.kind === 'unfinished-snapshot' && f.subject === id6),
    'the table-less snapshot device is an unfinished snapshot',
  );
  clean('six');
  t.same(devices('six-after-devices'), ['qrv-x:L--w'], 'only qrv-x is left, resumed');
  t.equal(result('six-data'), 'same');
});
