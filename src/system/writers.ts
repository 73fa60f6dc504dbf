// Who holds a file open for writing (issue 18): every process's open descriptors in /proc, matched
// by device and inode, whose fdinfo flags say O_WRONLY or O_RDWR. The file provider names them when
// an image changed while it was copied. A loop device's writes come from the kernel, not from a
// descriptor, and are not listed (qrv freezes the filesystem on it instead).
import { readdir, readFile, stat } from 'node:fs/promises';

export interface Writer {
  pid: number;
  /** the process's command name (/proc/PID/comm), "?" when it is gone */
  command: string;
}

const O_ACCMODE = 0o3;

/** Whether fdinfo text says the descriptor was opened for writing. */
export function opensForWriting(fdinfo: string): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(fdinfo);
  if (!flags) return false;
  const mode = parseInt(flags[1] as string, 8) & O_ACCMODE;
  return mode === 1 || mode === 2;
}

/**
 * Processes other than this one that hold the file `dev`/`ino` open for writing. Processes and
 * descriptors that vanish or cannot be read while it looks are skipped.
 */
export async function writersOf(dev: number, ino: number, proc = '/proc'): Promise<Writer[]> {
  const found: Writer[] = [];
  const pids = (await readdir(proc).catch(() => [] as string[])).filter(
    (name) => /^\d+$/.test(name) && Number(name) !== process.pid,
  );
  for (const pid of pids) {
    const fds = await readdir(`${proc}/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const st = await stat(`${proc}/${pid}/fd/${fd}`).catch(() => null);
      if (!st || st.dev !== dev || st.ino !== ino) continue;
      const info = await readFile(`${proc}/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      if (!opensForWriting(info)) continue;
      const command = (await readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => '?')).trim() || '?';
      found.push({ pid: Number(pid), command });
      break;
    }
  }
  return found;
}

/** "pid 123 (qemu-system-x86)" for each writer, comma separated. */
export function writerNames(writers: Writer[]): string {
  return writers.map((w) => `pid ${w.pid} (${w.command.replace(/[^\x20-\x7e]/g, '?')})`).join(', ');
}
