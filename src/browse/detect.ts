// Which filesystem an image file or block device holds, from its superblock's magic number: read
// directly (no blkid needed, and the same answer as root or not). What is not a filesystem qrv
// reads is named when it is recognisable (a partition table, LUKS, LVM, swap, all zeros).
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import type { FsType } from './types.ts';

export type Detected = { fsType: FsType } | { fsType: null; what: string };

const EXT_MAGIC_AT = 1080;
const BTRFS_MAGIC_AT = 65600;
const HEAD = BTRFS_MAGIC_AT + 8;

/** Reads the first 64 KiB (and a bit) of `source` and says what it holds. */
export async function detectFilesystem(source: string): Promise<Detected> {
  const handle = await fs.open(source, 'r');
  try {
    const head = Buffer.alloc(HEAD);
    const { bytesRead } = await handle.read(head, 0, HEAD, 0);
    return classify(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Pure: the filesystem whose magic the first bytes carry. */
export function classify(head: Buffer): Detected {
  const at = (offset: number, text: string) =>
    head.length >= offset + text.length &&
    head.subarray(offset, offset + text.length).equals(Buffer.from(text, 'latin1'));
  if (head.length >= EXT_MAGIC_AT + 2 && head.readUInt16LE(EXT_MAGIC_AT) === 0xef53) {
    const compat = head.readUInt32LE(1024 + 0x5c);
    const incompat = head.readUInt32LE(1024 + 0x60);
    const roCompat = head.readUInt32LE(1024 + 0x64);
    // extents, 64bit, flex_bg, inline data; huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum
    if (incompat & (0x40 | 0x80 | 0x200 | 0x8000) || roCompat & (0x8 | 0x10 | 0x20 | 0x40 | 0x400))
      return { fsType: 'ext4' };
    return { fsType: compat & 0x4 ? 'ext3' : 'ext2' };
  }
  if (at(0, 'XFSB')) return { fsType: 'xfs' };
  if (at(BTRFS_MAGIC_AT, '_BHRfS_M')) return { fsType: 'btrfs' };
  if (at(0, 'LUKS\xba\xbe'))
    return { fsType: null, what: 'a LUKS encrypted volume (open it with cryptsetup and browse the opened device)' };
  if (at(512, 'LABELONE')) return { fsType: null, what: 'an LVM physical volume' };
  if (at(512, 'EFI PART'))
    return {
      fsType: null,
      what: 'a disk with a GPT partition table (qrv reads a filesystem that fills the whole image)',
    };
  if (at(4086, 'SWAPSPACE2')) return { fsType: null, what: 'swap space' };
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa)
    return {
      fsType: null,
      what: 'a disk with an MBR partition table or a boot sector (qrv reads a filesystem that fills the whole image)',
    };
  if (head.length === 0) return { fsType: null, what: 'empty' };
  if (head.every((byte) => byte === 0))
    return { fsType: null, what: 'all zeros at the start (no filesystem was made on it)' };
  return { fsType: null, what: 'no filesystem qrv knows (ext2/3/4, XFS, btrfs)' };
}
