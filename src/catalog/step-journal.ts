// A running job's step records between two catalog writes: <home>/jobs/<job-id>.steps, one line
// per record of the whole step list, appended and fsynced (no catalog rewrite per step). The
// catalog row is written at every state change and when the job ends (then the journal goes); a
// killed job's row still says running, and `show` and `doctor` take its steps from here.
import { constants as C } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../core/errors.ts';
import * as z from 'zod/mini';
import { stepSchema, type Job, type Step } from './schema.ts';

function journalFile(home: string, jobId: string): string {
  return path.join(home, 'jobs', `${jobId}.steps`);
}

export async function appendSteps(home: string, jobId: string, steps: readonly Step[]): Promise<void> {
  await fs.mkdir(path.join(home, 'jobs'), { mode: 0o700 }).catch((error: unknown) => {
    if (errnoCode(error) !== 'EEXIST') throw error;
  });
  const handle = await fs.open(journalFile(home, jobId), C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW, 0o600);
  try {
    await handle.write(`${JSON.stringify(steps)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The newest complete step list the journal holds, or null (none, or nothing readable in it). */
export async function readSteps(home: string, jobId: string): Promise<Step[] | null> {
  let text: string;
  try {
    const handle = await fs.open(journalFile(home, jobId), C.O_RDONLY | C.O_NOFOLLOW);
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ELOOP') return null;
    throw error;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: nothing, or a torn line
  for (const line of lines.reverse()) {
    try {
      return z.array(stepSchema).parse(JSON.parse(line));
    } catch {
      // a line that does not parse is not a record; try the one before
    }
  }
  return null;
}

export async function removeSteps(home: string, jobId: string): Promise<void> {
  await fs.rm(journalFile(home, jobId), { force: true });
}

/** A running job's row with the steps its journal recorded since the row was written. */
export async function withJournal(home: string, job: Job): Promise<Job> {
  if (job.state !== 'running') return job;
  const steps = await readSteps(home, job.id);
  return steps && steps.length >= job.steps.length ? { ...job, steps } : job;
}
