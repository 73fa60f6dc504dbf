// Cold-cache runs: `sync`, then (as root) drop the page cache, dentries and inodes so the next
// measured process reads from the disk. Without root the bench continues warm and says so.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export class PageCache {
  /** false once dropping failed (or was never possible): the report must say runs were warm */
  dropped = process.getuid?.() === 0;

  /** Writes everything dirty out, then drops the caches if it can. */
  flushAndDrop(): void {
    spawnSync('sync');
    if (!this.dropped) return;
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    } catch (error) {
      this.dropped = false;
      console.warn(`could not drop page caches (${String(error)}); continuing without`);
    }
  }
}
