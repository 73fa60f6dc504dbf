// Hooks run by the real /bin/sh: the QRV_* facts reach them through the environment only, their
// output becomes info events, and failure, death and timeout are told apart. A timeout must end
// the hook and everything it started (checked in /proc).
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QrvError } from '../../src/core/errors.ts';
import { Reporter } from '../../src/core/events.ts';
import { hookEnv, killRunningHooks, runHook, HOOK_OUTPUT_CAP_BYTES, type HookFacts } from '../../src/engine/hooks.ts';
import { parseHookOptions, HOOK_PHASES } from '../../src/policy/hooks.ts';
import { tmpDir } from '../helpers/tmp.ts';

const facts: HookFacts = {
  jobId: 'j-0123abcd',
  volume: 'db',
  device: '/dev/vg0/db',
  snapshotId: 's-89abcdef',
  snapshotPath: '/dev/vg0/db-snap',
  destination: '/backup/db.img',
};

function infoLines(reporter: Reporter): string[] {
  const lines: string[] = [];
  reporter.subscribe((event) => {
    if (event.type === 'info') lines.push(event.message);
  });
  return lines;
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Live (not zombie) `sleep SECONDS` processes. */
async function sleepers(seconds: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (path.basename(argv[0] ?? '') === 'sleep' && argv[1] === seconds) pids.push(Number(entry));
  }
  return pids;
}

/** Waits up to `ms` for the `sleep SECONDS` processes to end; returns the ones still there. */
async function goneWithin(seconds: string, ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = await sleepers(seconds);
    if (left.length === 0 || Date.now() > until) return left;
    await sleep(50);
  }
}

/** A sleep duration no other process on the machine is using, to find ours in /proc. */
function uniqueSeconds(base: number): string {
  return `${base}.${String(process.pid % 10000).padStart(4, '0')}${Math.floor(Math.random() * 9000 + 1000)}`;
}

/** Kills (at teardown) the sleeps this test started, if any is still alive. */
function reapAtTeardown(t: Test, seconds: string[]): void {
  t.teardown(async () => {
    for (const secs of seconds) for (const pid of await sleepers(secs)) process.kill(pid, 'SIGKILL');
  });
}

t.test('the QRV_* facts reach the hook as environment variables', async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'env.txt');
  await runHook('post-snapshot', `env > '${out}'`, hookEnv('post-snapshot', facts), 5000, new Reporter());
  const env = Object.fromEntries(
    (await fs.readFile(out, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  t.match(env, {
    QRV_JOB_ID: 'j-0123abcd',
    QRV_PHASE: 'post-snapshot',
    QRV_VOLUME: 'db',
    QRV_DEVICE: '/dev/vg0/db',
    QRV_SNAPSHOT_ID: 's-89abcdef',
    QRV_SNAPSHOT_PATH: '/dev/vg0/db-snap',
    QRV_DESTINATION: '/backup/db.img',
  });
  t.equal(env.PATH, process.env.PATH, "qrv's own environment is passed on too");
});

t.test('facts not known yet are empty variables, and facts are never run as shell text', async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'vars.txt');
  const pwned = path.join(dir, 'pwned');
  const hostile = { jobId: 'j-0123abcd', volume: `$(touch ${pwned}); \`touch ${pwned}\``, device: '/dev/x' };
  const env = hookEnv('pre-snapshot', hostile);
  t.same(
    [env.QRV_SNAPSHOT_ID, env.QRV_SNAPSHOT_PATH, env.QRV_DESTINATION],
    ['', '', ''],
    'unknown facts are empty strings',
  );
  await runHook(
    'pre-snapshot',
    `printf '%s|%s|%s\\n' "$QRV_VOLUME" "\${QRV_SNAPSHOT_ID-unset}" "$QRV_PHASE" > '${out}'`,
    env,
    5000,
    new Reporter(),
  );
  t.equal(
    await fs.readFile(out, 'utf8'),
    `${hostile.volume}||pre-snapshot\n`,
    'the volume name arrives verbatim, the unknown snapshot id is set and empty',
  );
  await t.rejects(fs.stat(pwned), { code: 'ENOENT' }, 'nothing in a fact was executed');
});

t.test('hook output lines become info events', async (t) => {
  const reporter = new Reporter();
  const lines = infoLines(reporter);
  await runHook(
    'pre-snapshot',
    'echo flushing tables; echo; echo "  tables flushed"; printf "no newline"',
    {},
    5000,
    reporter,
  );
  t.same(
    lines,
    ['hook pre-snapshot: flushing tables', 'hook pre-snapshot:   tables flushed', 'hook pre-snapshot: no newline'],
    'one event a line, blank lines dropped',
  );

  const errLines = infoLines(reporter);
  await runHook('post-snapshot', 'echo "to stderr" >&2', {}, 5000, reporter);
  t.same(errLines, ['hook post-snapshot: to stderr'], 'stderr lines too');
});

t.test("hook output reaches qrv's output without its escape sequences", async (t) => {
  const reporter = new Reporter();
  const lines = infoLines(reporter);
  // colours, a window title (OSC), a cursor move, a progress line redrawn with \r, a bell and a NUL-free control byte
  await runHook(
    'pre-copy',
    "printf '\\033[31mred\\033[0m and \\033]0;pwned\\007plain\\033[2J\\n10%%\\r100%%\\n\\007bell \\001one\\n'",
    {},
    5000,
    reporter,
  );
  t.same(
    lines,
    ['hook pre-copy: red and plain', 'hook pre-copy: 100%', 'hook pre-copy: \\x07bell \\x01one'],
    'sequences dropped, other controls escaped',
  );
  t.notOk(
    lines.some((line) => /[\u0000-\u001f]/.test(line)),
    'no control character reaches the printer',
  );
});

t.test('a hook stopped by qrv\'s output cap is blamed on the cap, not on "status 141"', async (t) => {
  const reporter = new Reporter();
  let infos = 0;
  reporter.subscribe((event) => void (event.type === 'info' && infos++));
  // a pipeline whose writer dies of SIGPIPE when the cap closes its pipe: the shell says 141
  const started = Date.now();
  const error = await errorOf(
    runHook('post-copy', `head -c ${2 * HOOK_OUTPUT_CAP_BYTES} /dev/zero | tr '\\0' x`, {}, 20_000, reporter),
  );
  t.match(error, {
    exit: 'hook',
    code: 'hook-output-cap',
    message: /post-copy hook was stopped: its output passed qrv's cap of 1 MiB/,
    hint: /quieter|to a file/,
  });
  t.notMatch((error as Error).message, /141/);
  const endless = await errorOf(runHook('post-copy', 'yes', {}, 20_000, new Reporter()));
  t.match(endless, { code: 'hook-output-cap' }, 'a hook that would print forever is stopped at the cap');
  t.ok(Date.now() - started < 15_000, 'long before the timeout');
  t.ok(infos >= 1, 'what it printed up to the cap is still shown');
});

t.test('a hook that exits non-zero fails with hook-failed, and its output is still shown', async (t) => {
  const reporter = new Reporter();
  const lines = infoLines(reporter);
  const error = await errorOf(runHook('post-copy', 'echo cannot reach the database; exit 3', {}, 5000, reporter));
  t.ok(error instanceof QrvError, 'a QrvError');
  t.match(error, {
    exit: 'hook',
    code: 'hook-failed',
    exitCode: 7,
    message: /post-copy hook exited with status 3: echo cannot reach/,
  });
  t.same(lines, ['hook post-copy: cannot reach the database']);
});

t.test('a hook killed by a signal fails with hook-killed', async (t) => {
  const error = await errorOf(runHook('pre-copy', 'kill -KILL $$', {}, 5000, new Reporter()));
  t.ok(error instanceof QrvError, 'a QrvError');
  t.match(error, { exit: 'hook', code: 'hook-killed', message: /pre-copy hook was killed by SIGKILL/ });
});

t.test('a hook that exits 0 succeeds', async (t) => {
  await t.resolves(runHook('pre-copy', 'true', {}, 5000, new Reporter()));
});

t.test('a hook that runs too long is killed with everything it started', async (t) => {
  const outer = uniqueSeconds(30);
  const inner = uniqueSeconds(31);
  reapAtTeardown(t, [outer, inner]);
  const started = Date.now();
  // 3 s: long enough to see both running on a loaded machine, where one scan of /proc can take
  // a good part of a second (with 0.5 s and a fixed look at 0.25 s it failed under load).
  const run = errorOf(runHook('pre-snapshot', `sh -c 'sleep ${inner} & sleep ${outer}'`, {}, 3000, new Reporter()));
  let both = false;
  while (!both && Date.now() - started < 2500) {
    both = (await sleepers(inner)).length === 1 && (await sleepers(outer)).length === 1;
    if (!both) await sleep(50);
  }
  t.ok(both, 'the hook and the grandchild sleep it started were both running');
  const error = await run;
  const seconds = (Date.now() - started) / 1000;
  t.ok(error instanceof QrvError, 'a QrvError');
  t.match(error, {
    exit: 'hook',
    code: 'hook-timeout',
    message: /pre-snapshot hook timed out after 3 s and was killed/,
  });
  t.ok(seconds >= 3 && seconds < 10, `gave up after ${seconds} s`);
  t.same(await goneWithin(inner, 1000), [], 'the grandchild is gone');
  t.same(await goneWithin(outer, 1000), [], 'the hook is gone');
});

t.test('a plain sleep hook is killed on timeout', async (t) => {
  const secs = uniqueSeconds(30);
  reapAtTeardown(t, [secs]);
  const started = Date.now();
  const error = await errorOf(runHook('post-copy', `sleep ${secs}`, {}, 500, new Reporter()));
  const seconds = (Date.now() - started) / 1000;
  t.match(error, { code: 'hook-timeout' });
  t.ok(seconds < 6, `within ${seconds} s`);
  t.same(await goneWithin(secs, 1000), [], 'the sleep is gone');
});

t.test('a hook that ignores SIGTERM is killed after the grace period', async (t) => {
  const secs = uniqueSeconds(32);
  reapAtTeardown(t, [secs]);
  const started = Date.now();
  const error = await errorOf(runHook('pre-copy', `trap '' TERM; sleep ${secs}`, {}, 300, new Reporter()));
  const seconds = (Date.now() - started) / 1000;
  t.match(error, { code: 'hook-timeout' });
  t.ok(seconds >= 5 && seconds < 8, `SIGKILL after the 5 s grace (${seconds} s)`);
  t.same(await goneWithin(secs, 1000), [], 'the sleep is gone');
});

t.test('a process the hook started that ignores SIGTERM and closed its output is killed too', async (t) => {
  const stubborn = uniqueSeconds(33);
  const outer = uniqueSeconds(30);
  reapAtTeardown(t, [stubborn, outer]);
  const error = await errorOf(
    runHook(
      'pre-snapshot',
      `sh -c "trap '' TERM; sleep ${stubborn}" >/dev/null 2>&1 & sleep ${outer}`,
      {},
      300,
      new Reporter(),
    ),
  );
  t.match(error, { code: 'hook-timeout' });
  t.same(await goneWithin(outer, 1000), [], 'the hook itself is gone');
  t.same(await goneWithin(stubborn, 6500), [], 'what it started is gone within the grace period');
});

t.test('a hook stopped at the output cap takes what it started with it', async (t) => {
  const secs = uniqueSeconds(34);
  reapAtTeardown(t, [secs]);
  const error = await errorOf(runHook('post-copy', `sleep ${secs} >/dev/null 2>&1 & yes`, {}, 20_000, new Reporter()));
  t.match(error, { code: 'hook-output-cap' });
  t.same(await goneWithin(secs, 1000), [], 'the sleep it started in the background is gone');
});

t.test('killRunningHooks ends the hooks running now and what they started (qrv interrupted)', async (t) => {
  const outer = uniqueSeconds(35);
  const inner = uniqueSeconds(36);
  reapAtTeardown(t, [outer, inner]);
  const run = errorOf(runHook('pre-copy', `sleep ${inner} & sleep ${outer}`, {}, 60_000, new Reporter()));
  const started = Date.now();
  while ((await sleepers(outer)).length === 0 && Date.now() - started < 10_000) await sleep(50);
  killRunningHooks();
  t.match(await run, { exit: 'hook', code: 'hook-killed', message: /^pre-copy hook was killed by SIGKILL: sleep / });
  t.ok(Date.now() - started < 20_000, 'at once, not at the timeout');
  t.same(await goneWithin(outer, 1000), [], 'the hook is gone');
  t.same(await goneWithin(inner, 1000), [], 'and what it started');
  await t.resolves(runHook('pre-copy', 'true', {}, 5000, new Reporter()), 'a later hook runs as before');
});

t.test('each way a hook fails has its code, its whole message and what to do', async (t) => {
  const cases: Array<[string, number, Record<string, unknown>]> = [
    [
      'exit 4',
      5000,
      {
        exit: 'hook',
        code: 'hook-failed',
        message: 'pre-snapshot hook exited with status 4: exit 4',
        hint: 'run the hook by hand to see why it fails',
      },
    ],
    [
      'kill -TERM $$',
      5000,
      {
        exit: 'hook',
        code: 'hook-killed',
        message: 'pre-snapshot hook was killed by SIGTERM: kill -TERM $$',
        hint: 'find out what killed it; run the hook by hand to check it',
      },
    ],
    [
      'sleep 5',
      250,
      {
        exit: 'hook',
        code: 'hook-timeout',
        message: 'pre-snapshot hook timed out after 0.25 s and was killed: sleep 5',
        hint: 'make the hook finish sooner or raise --hook-timeout',
      },
    ],
    [
      'yes',
      20_000,
      {
        exit: 'hook',
        code: 'hook-output-cap',
        message: "pre-snapshot hook was stopped: its output passed qrv's cap of 1 MiB: yes",
        hint: 'make the hook quieter, or send its output to a file (e.g. >>/var/log/qrv-hook.log 2>&1)',
      },
    ],
  ];
  for (const [command, timeoutMs, expected] of cases) {
    const error = await errorOf(runHook('pre-snapshot', command, {}, timeoutMs, new Reporter()));
    t.ok(error instanceof QrvError, `${command}: a QrvError`);
    const { exit, code, message, hint } = error as QrvError;
    t.same({ exit, code, message, hint }, expected, command);
  }
});

t.test('parseHookOptions reads PHASE=COMMAND', async (t) => {
  t.same(parseHookOptions([]), {});
  t.same(
    parseHookOptions(['pre-snapshot=sync', 'post-copy=echo a=b | logger']),
    { 'pre-snapshot': 'sync', 'post-copy': 'echo a=b | logger' },
    'only the first = splits',
  );
  t.throws(
    () => parseHookOptions(['pre-copy=one', 'pre-copy=two']),
    { code: 'hook-twice' },
    'a phase given twice is refused, not silently overridden',
  );
  t.throws(
    () => parseHookOptions(['pre-copy=one'], ['pre-snapshot', 'post-snapshot']),
    { code: 'hook-not-run' },
    'a hook for a phase the command never runs is refused',
  );
  t.same(
    Object.keys(parseHookOptions(HOOK_PHASES.map((phase) => `${phase}=true`))).sort(),
    [...HOOK_PHASES].sort(),
    'every phase is accepted',
  );
});

t.test('parseHookOptions refuses anything else', async (t) => {
  const bad = [
    'pre-snapshot',
    'pre-snapshot=',
    'pre-snapshot=   ',
    '=sync',
    'pre-snap=sync',
    'PRE-SNAPSHOT=sync',
    ' pre-snapshot=sync',
    'during-copy=sync',
    '',
  ];
  for (const value of bad) {
    let error: unknown;
    try {
      parseHookOptions(['pre-copy=ok', value]);
    } catch (caught) {
      error = caught;
    }
    t.ok(error instanceof QrvError, `${JSON.stringify(value)} is refused`);
    t.match(error, {
      exit: 'usage',
      code: 'bad-hook',
      message: `--hook "${value}" is not PHASE=COMMAND`,
      hint: /pre-snapshot, post-snapshot, pre-copy, post-copy/,
    });
  }
});

t.test(
  'a timeout longer than a timer can wait (from a row written before the limit) does not fire at once',
  async (t) => {
    // Node fires a setTimeout of more than 2^31-1 ms at once: a 30-day timeout killed every hook.
    await t.resolves(runHook('pre-copy', 'sleep 0.3', {}, 30 * 86_400_000, new Reporter()));
  },
);
