// HeldSession against real programs: sh reading commands from its standard input (a mark is
// `echo MARK`), and Debian's sqlite3 (`.print MARK`). Each answer is what was printed before the
// mark; a program that says nothing in time is killed and the error says so; one that ends says
// its last words; close() ends it, even one that ignores SIGTERM.
import { execa } from 'execa';
import t from 'tap';
import { HeldSession, SessionError } from '../../src/system/session.ts';
import { lane } from '../helpers/lanes.ts';

function shell(t: { teardown: (fn: () => unknown) => void }, script = ''): HeldSession {
  const args = script ? ['-c', `${script}\nexec sh`] : [];
  const session = new HeldSession({ name: 'the shell', program: 'sh', args, markCommand: (mark) => `echo ${mark}` });
  t.teardown(() => session.close(200));
  return session;
}

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

async function ended(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!gone(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return gone(pid);
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

t.test('each answer is what the program printed before the mark, and only that', async (t) => {
  const session = shell(t);
  t.same(await session.ask('echo one; echo two', 2000), ['one', 'two']);
  t.same(await session.ask('echo three', 2000), ['three'], 'not the lines of an earlier answer');
  t.same(await session.ask('true', 2000), [], 'nothing printed: no lines');
  t.same(await session.ask('printf "no newline"', 2000), ['no newline'], 'a last line without its newline');
  t.same(
    await session.ask('for i in $(seq 1 20000); do echo "$i"; done', 5000).then((l) => l.length),
    20000,
    'a long answer, in many pieces',
  );
  t.same(await session.ask('echo late >&2; echo on', 2000), ['on'], 'standard error is not an answer');
  t.ok(session.alive(), 'alive');
});

t.test('a program that says nothing in time is killed, and the error says how long it waited', async (t) => {
  const session = shell(t);
  const [pid] = await session.ask('echo $$', 2000);
  const started = Date.now();
  // exec: no child of its own left holding its output open
  const error = await rejection(session.ask('exec sleep 30', 300));
  t.ok(error instanceof SessionError && error.reason === 'timeout', 'a timeout');
  t.equal((error as Error).message, 'the shell did not answer within 0.3 s', 'named as the caller named it');
  t.ok(Date.now() - started < 1500, 'at the timeout');
  t.ok(await ended(Number(pid), 2000), 'the program is gone');
  t.notOk(session.alive(), 'not alive');
});

t.test('close() ends a program that ignores SIGTERM and its input', async (t) => {
  const closed = shell(t, "trap '' TERM");
  const [pid] = await closed.ask('echo $$', 2000);
  closed.ask('exec sleep 30', 60_000).catch(() => undefined);
  const started = Date.now();
  await closed.close(300);
  t.ok(Date.now() - started < 1500, `close() returns in twice its grace (${Date.now() - started} ms)`);
  t.ok(await ended(Number(pid), 1000), 'the program is gone');
  t.notOk(closed.alive(), 'not alive');
});

t.test('a program that ends says its last words', async (t) => {
  const session = shell(t);
  const error = await rejection(session.ask('echo "first words" >&2; echo "last words" >&2; exit 3', 2000));
  t.ok(error instanceof SessionError && error.reason === 'failed', 'failed');
  t.equal((error as Error).message, 'the shell: last words', 'its last line of standard error');
  t.notOk(session.alive(), 'not alive');
  const again = await rejection(session.ask('echo more', 2000));
  t.ok(again instanceof SessionError, 'asking again is an error, not a hang');

  const silent = shell(t);
  const quiet = await rejection(silent.ask('exit 4', 2000));
  t.ok(quiet instanceof SessionError && quiet.reason === 'ended', 'ended');
  t.equal((quiet as Error).message, 'the shell ended (status 4)', 'says its status');

  const continued = shell(t);
  const said = await rejection(continued.ask('printf "error: it failed\\n\\tbecause of this\\n" >&2; exit 1', 2000));
  t.equal(
    (said as Error).message,
    'the shell: error: it failed because of this',
    'an indented line continues the one before',
  );
});

t.test('close() ends the program', async (t) => {
  const session = shell(t);
  const [pid] = await session.ask('echo $$', 2000);
  await session.close();
  t.ok(await ended(Number(pid), 2000), 'gone');
  t.notOk(session.alive(), 'not alive');
  await session.close();
  t.pass('closing twice is no error');
});

t.test('sqlite3 held open: its answers, and its error', async (t) => {
  if (!lane(t, 'sqlite3 session', { tools: ['sqlite3'] })) return;
  const session = new HeldSession({
    name: 'sqlite3',
    program: 'sqlite3',
    args: ['-batch', '-bail', '-noheader', '-list', ':memory:'],
    markCommand: (mark) => `.print ${mark}`,
  });
  t.teardown(() => session.close());
  await session.ask('CREATE TABLE x(a, b);\nINSERT INTO x VALUES (1, 2), (3, 4);', 2000);
  t.same(await session.ask('SELECT * FROM x ORDER BY a;', 2000), ['1|2', '3|4']);
  const error = await rejection(session.ask('SELECT * FROM missing;', 2000));
  t.match((error as Error).message, /^sqlite3: .*no such table: missing/, `its error, named sqlite3: ${String(error)}`);
  t.equal((await execa('sqlite3', ['-version'])).exitCode, 0);
});
