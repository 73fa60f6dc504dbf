// The scene of the planted-path tests (a QRV destination, a recovery target): a folder anyone
// may write (0777, no sticky bit) where nobody plants a link, and root's file the link points
// at, which must stay as it was.
import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256 } from './images.ts';

export async function openFolderAndVictim(dir: string): Promise<{ open: string; victim: string; before: string }> {
  const open = path.join(dir, 'open');
  await fs.mkdir(open);
  await fs.chmod(open, 0o777);
  const victim = path.join(dir, 'victim');
  await fs.writeFile(victim, 'root only\n', { mode: 0o600 });
  return { open, victim, before: await sha256(victim) };
}
