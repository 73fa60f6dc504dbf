// What the file provider takes as a volume: a disk image, not any file root can open. The rule:
// a regular file of at least 64 KiB (the smallest filesystem images are about that size), not on
// a pseudo-filesystem (/proc, /sys, debugfs, cgroup …) nor on the filesystem of /dev.
// /etc/passwd and /proc/self/status are refused. The size need not be whole sectors: images
// made by copying or appending are not always.
import fs from 'node:fs/promises';

export const MIN_IMAGE_BYTES = 64 * 1024;

/** statfs f_type of filesystems whose files are kernel interfaces, not data (linux/magic.h). */
const PSEUDO: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x62656570, 'configfs'],
  [0xde5e81e4, 'efivarfs'],
  [0xcafe4a11, 'bpf'],
  [0x1cd1, 'devpts'],
  [0x19800202, 'mqueue'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
  [0x6e736673, 'nsfs'],
]);

/** Why `file` is not a disk image the file provider may take, or null when it is one. */
export async function notAnImage(file: string): Promise<string | null> {
  const st = await fs.stat(file);
  if (!st.isFile()) return 'it is not a regular file';
  const type = PSEUDO.get((await fs.statfs(file)).type);
  if (type) return `it is on ${type}, a kernel interface, not a disk image`;
  const dev = await fs.stat('/dev').catch(() => null);
  if (dev && dev.dev === st.dev) return 'it is on the /dev filesystem, not a disk image';
  if (st.size < MIN_IMAGE_BYTES)
    return `it holds ${st.size} bytes; a disk image holds at least ${MIN_IMAGE_BYTES / 1024} KiB`;
  return null;
}
