// A lowdb adapter that never leaves a half-written catalog: write a private temporary file,
// fsync it, rename it over the old one, fsync the folder. The file is mode 0600 (it names
// devices and paths an attacker would like to know).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';

export async function writeFileAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await fs.open(tmp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
  const dir = await fs.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Reads raw text (null when there is no file yet) and writes atomically; parsing is the caller's. */
export class AtomicTextFile implements Adapter<string> {
  constructor(readonly file: string) {}

  async read(): Promise<string | null> {
    try {
      return await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async write(text: string): Promise<void> {
    await writeFileAtomic(this.file, text);
  }
}
