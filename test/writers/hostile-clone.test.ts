// Removing what a database's owner wrote in a writable clone (root's qrv, after the throwaway
// server stopped): the owner can reach the overlay's upper folder, and swaps a folder of theirs
// in it for a link to root's files, again and again, while qrv removes it. Nothing of root's
// may go.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { writableClone } from '../../src/browse/writable-clone.ts';
import { lane } from '../helpers/lanes.ts';
import { sparseFile, tmpDir, useTmpdir } from '../helpers/tmp.ts';

const FILES = 2000;
const NOBODY = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--'];

// swaps d and l (a link) with renameat2(RENAME_EXCHANGE) until told to stop; makes l again when it is gone
const SWAPPER = `
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
open('ready', 'w').close()
end = time.time() + 20
while time.time() < end and not os.path.exists(sys.argv[3]):
    for _ in range(1000):
        if libc.renameat2(-100, b'd', -100, b'l', 2) != 0 and not os.path.lexists('l'):
            try: os.symlink(sys.argv[2], 'l')
            except OSError: pass
`;

/** One try: a clone with the owner's folder in it, closed while they swap it for a link to `victim`. */
async function oneTry(t: Test, outer: string, victim: string, round: number): Promise<string> {
  const image = await sparseFile(path.join(outer, `copy-${round}.img`), 32 * 1024 * 1024);
  await execa('mkfs.ext4', ['-q', '-F', image]);
  const clone = await writableClone(image, 'the copy');
  let closed = false;
  t.teardown(() => (closed ? undefined : clone.close()));
  // the owner's folder in the clone, as a throwaway server would leave it (in the upper folder)
  const theirs = path.join(clone.root, 'pg');
  await fs.mkdir(theirs);
  await execa('chown', ['nobody:nogroup', theirs]);
  const make = `mkdir d && cd d && i=0; while [ $i -lt ${FILES} ]; do : > f$i; i=$((i+1)); done`;
  await execa('setpriv', [...NOBODY, 'sh', '-c', make], { cwd: theirs });
  const upper = path.join(path.dirname(clone.root), 'upper', 'pg');
  const stop = path.join(outer, `stop-${round}`);
  const swapper = execa('setpriv', [...NOBODY, '/usr/bin/python3', '-c', SWAPPER, upper, victim, stop], {
    reject: false,
  });
  try {
    while (!(await fs.stat(path.join(upper, 'ready')).catch(() => null))) await new Promise((r) => setTimeout(r, 10));
    const error = await clone.close().then(
      () => null,
      (e: unknown) => e,
    );
    closed = true;
    return error === null ? 'removed all' : String(error);
  } finally {
    await fs.writeFile(stop, '');
    await swapper;
  }
}

t.test("closing a clone removes the owner's folders without following a link they swap in", async (t) => {
  if (!lane(t, 'hostile clone', { root: true, tools: ['mkfs.ext4', '/usr/bin/python3', 'setpriv'] })) return;
  const outer = await tmpDir(t, 'qrv-hostile-');
  await fs.chmod(outer, 0o711);
  useTmpdir(t, outer);
  const victim = path.join(outer, 'victim');
  await fs.mkdir(victim);
  for (let i = 0; i < FILES; i++) await fs.writeFile(path.join(victim, `f${i}`), 'root\n');
  // a race: fs.rm lost it about every other time; five tries
  let left = FILES;
  for (let round = 1; round <= 5 && left === FILES; round++) {
    t.comment(`try ${round}: close(): ${await oneTry(t, outer, victim, round)}`);
    left = (await fs.readdir(victim)).length;
  }
  t.equal(left, FILES, "every file of root's is still there");
});
