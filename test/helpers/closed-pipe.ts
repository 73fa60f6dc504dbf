// Runs bin/qrv with stdout a pipe whose reader goes away: at once (`qrv list | true`) or after
// the first line (`qrv run … | head -1`). Returns qrv's own exit status and stderr.
import { spawn } from 'node:child_process';
import { BIN } from './cli.ts';

export interface ClosedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** what was read before the reader went away */
  firstLine: string;
}

export function qrvReaderGone(home: string, args: string[], when: 'at-once' | 'after-first-line'): Promise<ClosedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--home', home, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '' },
    });
    let stderr = '';
    let firstLine = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    if (when === 'at-once') child.stdout.destroy();
    else {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        if (!seen.includes('\n')) return;
        firstLine = seen.slice(0, seen.indexOf('\n'));
        child.stdout.off('data', onData);
        child.stdout.destroy();
      };
      child.stdout.on('data', onData);
    }
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stderr, firstLine }));
  });
}
