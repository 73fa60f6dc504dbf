// The rule for what the file provider takes as a volume (src/providers/file/image-check.ts).
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MIN_IMAGE_BYTES, notAnImage } from '../../../src/providers/file/image-check.ts';
import { tmpDir } from '../../helpers/tmp.ts';

t.test('disk images pass; system files, kernel interfaces and odd sizes do not', async (t) => {
  const dir = await tmpDir(t);
  const image = path.join(dir, 'disk.img');
  await fs.writeFile(image, '');
  await fs.truncate(image, 32 * 1024 * 1024);
  t.equal(await notAnImage(image), null, 'a sparse 32 MiB image');
  const smallest = path.join(dir, 'small.img');
  await fs.writeFile(smallest, Buffer.alloc(MIN_IMAGE_BYTES));
  t.equal(await notAnImage(smallest), null, 'exactly 64 KiB');
  await fs.writeFile(smallest, Buffer.alloc(MIN_IMAGE_BYTES - 512));
  t.match(await notAnImage(smallest), /holds 65024 bytes; a disk image holds at least 64 KiB/);
  const text = path.join(dir, 'notes.txt');
  await fs.writeFile(text, 'x'.repeat(MIN_IMAGE_BYTES + 1));
  t.equal(await notAnImage(text), null, 'a size that is not whole sectors is still an image');
  t.match(await notAnImage('/etc/passwd'), /holds \d+ bytes/);
  t.match(await notAnImage('/proc/self/status'), /on proc, a kernel interface/);
  t.match(await notAnImage('/sys/kernel/uevent_seqnum'), /on sysfs/);
  t.match(await notAnImage(dir), /not a regular file/);
  t.match(await notAnImage('/dev/null'), /not a regular file/);
});
