// Reads at a disk's pace for benchmarks on a machine whose "disk" is the host's page cache (a VM
// disk cached by its host reads at several GB/s even after drop_caches): a blkio cgroup (v1)
// whose processes read each given device at no more than `mbps` MB/s. Buffered writes are not
// throttled by cgroup v1; the benchmarks that use this measure reads. Root only.
import { mkdirSync, rmdirSync, statSync, writeFileSync, existsSync } from 'node:fs';

const BLKIO = '/sys/fs/cgroup/blkio';

export class ReadThrottle {
  readonly path: string;

  constructor(readonly mbps: number) {
    if (!existsSync(`${BLKIO}/blkio.throttle.read_bps_device`))
      throw new Error(`no blkio cgroup (v1) at ${BLKIO}: cannot throttle reads`);
    this.path = `${BLKIO}/qrv-bench-${process.pid}`;
    mkdirSync(this.path, { recursive: true });
  }

  /** Throttles reads of the device that holds `file` (its filesystem's block device). */
  limit(file: string): void {
    const dev = statSync(file).dev;
    const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
    const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
    writeFileSync(`${this.path}/blkio.throttle.read_bps_device`, `${major}:${minor} ${this.mbps * 1e6}\n`);
  }

  /** The command line that runs `command args…` inside the cgroup. */
  wrap(command: string, args: string[]): [string, string[]] {
    return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, command, ...args]];
  }

  release(): void {
    try {
      rmdirSync(this.path);
    } catch {
      // a process still in it: the cgroup goes when it ends
    }
  }
}
