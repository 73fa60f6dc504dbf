// A store lock's record (store-lock.ts): what a holder writes about itself, how a record read
// back is checked, and when the holder counts as gone (its process on this host has ended) or
// the lock as stale (not refreshed for staleAfterMs).
import fs from 'node:fs';
import os from 'node:os';
import { formatSeconds } from '../core/duration.ts';
import { errnoCode } from '../core/errors.ts';

export type StoreLockKind = 'shared' | 'exclusive';

export interface StoreLockRecord {
  kind: StoreLockKind;
  host: string;
  pid: number;
  user?: string;
  /** the holder's pid namespace ("pid:[4026531836]"): a pid is judged only within the same one */
  pidNamespace?: string;
  /** the holder's start time (clock ticks after boot, /proc/PID/stat): a reused pid is not the holder */
  startTime?: string;
  createdAt: string;
  refreshedAt: string;
  /** what holds it, e.g. "archive web", "prune" */
  command: string;
}

export function readLink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot. */
export function startTimeOf(pid: number | 'self'): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function userName(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

export type Identity = Pick<StoreLockRecord, 'host' | 'pid' | 'user' | 'pidNamespace' | 'startTime'>;

export function thisProcess(): Identity {
  const identity: Identity = { host: os.hostname(), pid: process.pid };
  const user = userName();
  const pidNamespace = readLink('/proc/self/ns/pid');
  const startTime = startTimeOf('self');
  if (user !== undefined) identity.user = user;
  if (pidNamespace !== undefined) identity.pidNamespace = pidNamespace;
  if (startTime !== undefined) identity.startTime = startTime;
  return identity;
}

export const isTime = (value: unknown): value is string =>
  typeof value === 'string' && Number.isFinite(Date.parse(value));
export const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** The record in `data`, or why it is not one. */
export function parseLockRecord(data: Buffer): StoreLockRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return data.length === 0 ? 'it is empty' : 'it is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a JSON object';
  const r = value as Record<string, unknown>;
  if (r.kind !== 'shared' && r.kind !== 'exclusive') return 'its kind is neither shared nor exclusive';
  if (!isText(r.host)) return 'it names no host';
  if (!Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return 'it names no pid';
  if (!isTime(r.createdAt) || !isTime(r.refreshedAt)) return 'its createdAt or refreshedAt is not a time';
  if (typeof r.command !== 'string') return 'it names no command';
  for (const field of ['user', 'pidNamespace', 'startTime'])
    if (r[field] !== undefined && typeof r[field] !== 'string') return `its ${field} is not text`;
  return r as unknown as StoreLockRecord;
}

/** Why the holder, on this host, is gone; null when it lives or this host cannot tell. */
export function goneBecause(record: StoreLockRecord, me: Identity): string | null {
  if (record.host !== me.host) return null;
  if (record.pidNamespace && me.pidNamespace && record.pidNamespace !== me.pidNamespace) return null;
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return `process ${record.pid} on this host is gone`;
    return null;
  }
  const started = record.startTime === undefined ? undefined : startTimeOf(record.pid);
  if (started !== undefined && started !== record.startTime)
    return `process ${record.pid} on this host is gone (the pid is another process's now)`;
  return null;
}

/** Why the lock no longer counts, or null while it does. */
export function staleBecause(record: StoreLockRecord, now: Date, staleAfterMs: number): string | null {
  const age = now.getTime() - Date.parse(record.refreshedAt);
  if (age > staleAfterMs)
    return `not refreshed for ${formatSeconds(age / 1000)} (stale after ${formatSeconds(staleAfterMs / 1000)})`;
  return goneBecause(record, thisProcess());
}
