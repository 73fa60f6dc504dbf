// Admin-given hook commands around each phase. The command is the admin's own text, run by
// /bin/sh like a cron line; the job's facts reach it only through QRV_* environment variables,
// never by being pasted into the command. Each hook runs in its own process group so that a
// timeout ends it and everything it started.
import { execa } from 'execa';
import { TIMER_LIMIT } from '../core/duration.ts';
import { QrvError } from '../core/errors.ts';
import type { Reporter } from '../core/events.ts';
import { programLine } from '../core/text.ts';
import type { HookPhase } from '../policy/hooks.ts';

const KILL_GRACE_MS = 5_000;
/** What a hook may print (stdout and stderr together) before qrv stops it: its lines go into the job's output. */
export const HOOK_OUTPUT_CAP_BYTES = 1024 * 1024;

/** The QRV_* variables a hook sees; empty strings for facts not known yet. */
export interface HookFacts {
  jobId: string;
  volume: string;
  device: string;
  snapshotId?: string;
  snapshotPath?: string;
  destination?: string;
}

export function hookEnv(phase: HookPhase, facts: HookFacts): Record<string, string> {
  return {
    QRV_JOB_ID: facts.jobId,
    QRV_PHASE: phase,
    QRV_VOLUME: facts.volume,
    QRV_DEVICE: facts.device,
    QRV_SNAPSHOT_ID: facts.snapshotId ?? '',
    QRV_SNAPSHOT_PATH: facts.snapshotPath ?? '',
    QRV_DESTINATION: facts.destination ?? '',
  };
}

/** Hooks running now, so that an interrupted qrv can end them too (they have their own group). */
const running = new Set<number>();

/** Ends every hook still running (on SIGINT/SIGTERM of qrv itself). */
export function killRunningHooks(): void {
  for (const pid of running) killGroup(pid, 'SIGKILL');
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Starts the hook under /bin/sh in a process group of its own, stdout and stderr as one stream. */
function startHook(command: string, env: Record<string, string>) {
  return execa(command, {
    shell: true,
    env,
    extendEnv: true,
    detached: true,
    stdin: 'ignore',
    all: true,
    reject: false,
    stripFinalNewline: true,
    maxBuffer: HOOK_OUTPUT_CAP_BYTES,
  });
}

type HookChild = ReturnType<typeof startHook>;
type HookResult = Awaited<HookChild>;

/** Waits for the hook to end; past its timeout its group gets SIGTERM, then SIGKILL after a grace. */
async function waitForHook(child: HookChild, timeoutMs: number): Promise<{ result: HookResult; timedOut: boolean }> {
  if (child.pid !== undefined) running.add(child.pid);
  let timedOut = false;
  let grace: NodeJS.Timeout | undefined;
  const timer = setTimeout(
    () => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      grace = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      // A row written before --hook-timeout was bounded may hold more: Node fires a longer timer at once.
    },
    Math.min(timeoutMs, TIMER_LIMIT.ms),
  );
  let result;
  try {
    result = await child;
  } finally {
    clearTimeout(timer);
    if (grace) clearTimeout(grace);
    // After a timeout or past the output cap nothing the hook started may outlive it.
    if (timedOut || result?.isMaxBuffer) killGroup(child.pid, 'SIGKILL');
    if (child.pid !== undefined) running.delete(child.pid);
  }
  return { result, timedOut };
}

/** What the hook printed, a line an info event. */
function reportOutput(phase: HookPhase, result: HookResult, reporter: Reporter): void {
  const output = typeof result.all === 'string' ? result.all : '';
  // A hook's colours and cursor moves stay out of qrv's output; its other control characters show as escapes.
  for (const line of output.split('\n').map(programLine))
    if (line.trim() !== '') reporter.info(`hook ${phase}: ${line}`);
}

/** Why the hook failed, if it did: its timeout first, then the output cap, a signal, its exit status. */
function hookFailure(
  phase: HookPhase,
  command: string,
  timeoutMs: number,
  { result, timedOut }: { result: HookResult; timedOut: boolean },
): QrvError | undefined {
  if (timedOut) {
    return new QrvError(
      'hook',
      'hook-timeout',
      `${phase} hook timed out after ${timeoutMs / 1000} s and was killed: ${command}`,
      'make the hook finish sooner or raise --hook-timeout',
    );
  }
  // Past the cap execa closes the pipes: the hook then dies of SIGPIPE (a shell reports 141), which is qrv's doing.
  if (result.isMaxBuffer) {
    return new QrvError(
      'hook',
      'hook-output-cap',
      `${phase} hook was stopped: its output passed qrv's cap of ${HOOK_OUTPUT_CAP_BYTES / 1024 / 1024} MiB: ${command}`,
      'make the hook quieter, or send its output to a file (e.g. >>/var/log/qrv-hook.log 2>&1)',
    );
  }
  if (result.signal) {
    return new QrvError(
      'hook',
      'hook-killed',
      `${phase} hook was killed by ${result.signal}: ${command}`,
      'find out what killed it; run the hook by hand to check it',
    );
  }
  if (result.exitCode !== 0) {
    return new QrvError(
      'hook',
      'hook-failed',
      `${phase} hook exited with status ${result.exitCode}: ${command}`,
      'run the hook by hand to see why it fails',
    );
  }
  return undefined;
}

/** Runs one hook; resolves when it exited 0, throws QrvError('hook') when it failed, was killed or timed out. */
export async function runHook(
  phase: HookPhase,
  command: string,
  env: Record<string, string>,
  timeoutMs: number,
  reporter: Reporter,
): Promise<void> {
  const ended = await waitForHook(startHook(command, env), timeoutMs);
  reportOutput(phase, ended.result, reporter);
  const failure = hookFailure(phase, command, timeoutMs, ended);
  if (failure) throw failure;
}
