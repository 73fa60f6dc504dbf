// What the benchmark ran on, for the report: CPU count, memory, kernel, filesystem, Node.
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  filesystem: string;
  node: string;
  tools: string;
  /** 1-minute load average when the description was taken. */
  load: string;
}

function firstLine(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return run.status === 0 ? (run.stdout.split('\n')[0] ?? '').trim() : `(${command} unavailable)`;
}

/** `df -T <dir>` → "ext4 on /dev/vda (mounted at /)". */
function filesystemOf(dir: string): string {
  const run = spawnSync('df', ['-T', dir], { encoding: 'utf8' });
  const fields = run.status === 0 ? (run.stdout.trim().split('\n')[1] ?? '').split(/\s+/) : [];
  return fields.length >= 7 ? `${fields[1]} on ${fields[0]} (mounted at ${fields[6]})` : '(df -T failed)';
}

export function describeMachine(workDir: string): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    filesystem: filesystemOf(workDir),
    node: process.version,
    tools: `${firstLine('cp', ['--version'])}; ${firstLine('dd', ['--version'])}`,
    load: (loadavg()[0] ?? 0).toFixed(2),
  };
}
