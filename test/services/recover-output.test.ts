// The file --to names when it is in a folder another user can change (a database handed back into
// its owner's folder): they swap the folder for a link to another while the dump runs, and the
// dump fails; qrv removes its own file, never the one of the same name the link leads to.
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { dumpTo } from '../../src/services/recover-postgresql.ts';
import type { Throwaway } from '../../src/writers/postgresql/throwaway.ts';
import { tmpDir } from '../helpers/tmp.ts';

t.test('a failed dump removes its file where it made it, though the folder was swapped for a link', async (t) => {
  const dir = await tmpDir(t, 'qrv-hostile-');
  const theirs = path.join(dir, 'theirs');
  const elsewhere = path.join(dir, 'elsewhere');
  await fs.mkdir(theirs);
  await fs.mkdir(elsewhere);
  await fs.writeFile(path.join(elsewhere, 'billing.dump'), "root's\n");
  const to = path.join(theirs, 'billing.dump');
  const server = {
    run: async () => {
      // while pg_dump runs, the folder's owner swaps it for a link to another folder
      await fs.rename(theirs, `${theirs}.old`);
      await fs.symlink(elsewhere, theirs);
      return { exitCode: 1, stderr: 'pg_dump: error: no such database' };
    },
  } as unknown as Throwaway;
  await t.rejects(dumpTo(server, 'billing', to, false), { code: 'writer-failed' }, 'the dump fails');
  t.equal(await fs.readFile(path.join(elsewhere, 'billing.dump'), 'utf8'), "root's\n", 'the other file stays');
  t.same(await fs.readdir(`${theirs}.old`), [], 'its own is removed');
});
