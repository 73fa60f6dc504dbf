// The program of the guard processes (guard.ts starts them): a detached node process that
// outlives qrv, even a SIGKILLed one, to undo what qrv must never leave behind — a frozen
// filesystem (freeze.ts), a mounted copy (browse/mount-reader.ts). It watches its stdin: when
// qrv's end of the pipe closes, qrv is gone. Built on its own into dist/qrv-guard.mjs (a few KiB,
// so it starts as fast as `node -e`), it imports nothing of qrv's and only what Node has.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';

/** The first argument that makes the single executable its own guard (with QRV_GUARD set). */
export const GUARD_ARGUMENT = '--qrv-guard';

export interface GuardPlan {
  /** the word qrv sends when all is well: the guard then exits without cleaning up */
  done: string;
  /** signals to ignore (those that reach qrv's whole terminal session) */
  ignore: NodeJS.Signals[];
  /** what to undo when qrv is gone or the deadline passed; runs at most once */
  cleanup: () => void;
  /** cleans up after this long even with qrv alive (a hung qrv) */
  deadlineMs?: number;
}

/** Runs a guard: cleanup once when stdin ends or fails or the deadline passes; "ready" when set. */
export function runGuard(plan: GuardPlan): void {
  let finished = false;
  const finish = (clean: boolean) => {
    if (finished) return;
    finished = true;
    if (clean) plan.cleanup();
    process.exit(0);
  };
  for (const signal of plan.ignore) process.on(signal, () => undefined);
  process.stdin.on('data', (data) => {
    if (String(data).includes(plan.done)) finish(false);
  });
  process.stdin.on('end', () => finish(true));
  process.stdin.on('error', () => finish(true));
  if (plan.deadlineMs !== undefined) setTimeout(() => finish(true), plan.deadlineMs).unref();
  setInterval(() => undefined, 1 << 30);
  process.stdout.write('ready\n');
}

/** Thaws each mountpoint; one that is not frozen (any more) is what was wanted. */
export function thawAll(points: string[]): void {
  for (const point of points) {
    try {
      execFileSync('fsfreeze', ['-u', point], { stdio: 'ignore' });
    } catch {
      // not frozen, or gone: nothing to thaw
    }
  }
}

/** Whether `point` is a mountpoint now (/proc/self/mounts escapes spaces and such as octal). */
export function isMounted(point: string, mounts = readFileSync('/proc/self/mounts', 'utf8')): boolean {
  const unescape = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return mounts.split('\n').some((line) => unescape(line.split(' ')[1] ?? '') === point);
}

/** Unmounts `point` (retrying while busy, then lazily) and removes it and the folder it is in. */
export function unmountAndRemove(point: string): void {
  for (let i = 0; i < 50 && isMounted(point); i++) {
    try {
      execFileSync('umount', [point], { stdio: 'ignore' });
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // busy: wait 100 ms
    }
  }
  const attempts = [
    () => isMounted(point) && execFileSync('umount', ['-l', point], { stdio: 'ignore' }),
    () => rmdirSync(point),
    () => rmdirSync(path.dirname(point)),
  ];
  for (const attempt of attempts) {
    try {
      attempt();
    } catch {
      // best effort: what is left is found by qrv doctor
    }
  }
}

/** The guard named by QRV_GUARD, with its arguments from the environment. */
export function guardPlan(env: NodeJS.ProcessEnv): GuardPlan | undefined {
  switch (env.QRV_GUARD) {
    case 'freeze': {
      const points = JSON.parse(env.QRV_GUARD_POINTS ?? '[]') as string[];
      const deadlineMs = Number(env.QRV_GUARD_MS);
      return { done: 'thawed', ignore: ['SIGINT', 'SIGHUP'], deadlineMs, cleanup: () => thawAll(points) };
    }
    case 'mount': {
      const point = env.QRV_MOUNT_POINT ?? '';
      return { done: 'done', ignore: ['SIGINT', 'SIGHUP', 'SIGTERM'], cleanup: () => unmountAndRemove(point) };
    }
    default:
      return undefined;
  }
}

/** A guard process's program: the plan from QRV_GUARD and the environment, or exit 2. */
export function guardMain(env: NodeJS.ProcessEnv): void {
  const plan = guardPlan(env);
  if (plan) runGuard(plan);
  else {
    process.stderr.write('qrv guard: QRV_GUARD must be "freeze" or "mount"\n');
    process.exitCode = 2;
  }
}
