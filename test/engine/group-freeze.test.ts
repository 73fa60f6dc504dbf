// The group's one freeze window, without root: members with nothing to freeze still wait for
// each other; the last thaw() releases everyone; a member that fails before joining releases the
// waiting ones with its error, and later joiners fail at once.
import t from 'tap';
import { GroupFreeze } from '../../src/engine/group-freeze.ts';

t.test('nobody goes on before all have joined; the last thaw releases all', async (t) => {
  const group = new GroupFreeze(3);
  const order: string[] = [];
  const a = group.join([]).then((f) => (order.push('a frozen'), f));
  const b = group.join([]).then((f) => (order.push('b frozen'), f));
  await new Promise((r) => setTimeout(r, 20));
  t.same(order, [], 'two of three joined: both still wait');
  const c = group.join([]).then((f) => (order.push('c frozen'), f));
  const [fa, fb, fc] = await Promise.all([a, b, c]);
  t.same(order.sort(), ['a frozen', 'b frozen', 'c frozen']);
  t.same([fa.mountpoints, fa.alreadyFrozen], [[], []]);
  t.equal(fa.since, fb.since, 'one window for all');
  let thawed = false;
  const ta = fa.thaw().then(() => (thawed = true));
  fa.thaw();
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(thawed, 'a thaw waits for every member (calling it twice counts once)');
  const tb = fb.thaw();
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(thawed, 'still one member taking its snapshot');
  await fc.thaw();
  await Promise.all([ta, tb]);
  t.ok(thawed, 'thawed once the last member is done');
});

t.test('a member failing before it joins releases the others with its error', async (t) => {
  const group = new GroupFreeze(3);
  const a = group.join([]);
  const failure = new Error('pre-snapshot hook failed on b');
  group.abort(failure);
  await t.rejects(a, failure, 'the waiting member fails with that error');
  await t.rejects(group.join([]), failure, 'and so does a member joining later');
  group.abort(new Error('second'));
  await t.rejects(group.join([]), failure, 'the first error stays');
});

t.test('abort is too late once all have joined', async (t) => {
  const group = new GroupFreeze(2);
  const a = group.join([]);
  const b = group.join([]);
  group.abort(new Error('late'));
  const [fa, fb] = await Promise.all([a, b]);
  await Promise.all([fa.thaw(), fb.thaw()]);
  t.pass('both went through');
});
