// `qrv recover WRITER:OBJECT [--as-of T] --to PATH` (F13): one application object as it was,
// taken out of the copies that hold it without touching the volume production runs on, nor the
// copies themselves. SQLite: the database file and its WAL read out of the copy, opened in a
// private folder (the WAL is replayed there), checked (integrity_check) and written with VACUUM
// INTO. PostgreSQL: recover-postgresql.ts.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogData } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { withReader } from '../browse/open.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { tool } from '../system/tools.ts';
import { parseObjectId } from '../writers/registry.ts';
import { sourceOf } from './recover.ts';
import { chooseObjectAt } from './resolve-object.ts';
import type { Chosen } from './object-output.ts';
import { recoverPostgresql } from './recover-postgresql.ts';
import { chosenLine, createOutput, privateWorkDir, type RecoverObjectRequest } from './object-output.ts';

export type { RecoverObjectRequest } from './object-output.ts';

/** The sqlite3 program's answer, or its own error as one line. */
async function sqlite(file: string, sql: string): Promise<string> {
  const result = await tool('sqlite3', ['-batch', '-bail', file, sql]);
  if (result.exitCode !== 0)
    throw new QrvError(
      'hook',
      'writer-failed',
      `sqlite3 on the recovered copy of ${path.basename(file)}: ${result.stderr.trim().split('\n').pop() ?? ''}`,
      'the database in the copy may be damaged: try an older --as-of',
    );
  return result.stdout.trim();
}

/** Reads the database file, its WAL and journal out of the copy into `work`; returns the file there. */
async function readOut(ctx: Context, r: Chosen, work: string): Promise<string> {
  const place = r.chosen.record.places?.[0];
  const copy = r.chosen.copies.find((c) => c.volume === place?.volume);
  if (!copy || !place)
    throw new QrvError(
      'refused',
      'group-incomplete',
      `the copy of ${r.object} does not say where its file was (recorded by an older qrv)`,
      'recover the volume with `qrv recover VOLUME --from ID --to IMAGE` and open the file there',
    );
  const source = await sourceOf(ctx, copy.volume, copy.id);
  const name = path.basename(place.inside);
  await withReader(source.path, { label: copy.id }, async (reader) => {
    for (const [index, suffix] of ['', '-wal', '-journal'].entries()) {
      const wanted = path.posix.normalize(`${place.inside}${suffix}`);
      const found = await reader.stat(wanted).catch(() => null);
      // where it was recorded (every link resolved): a folder on the way that is now a link (its
      // owner's, in the copy) would lead to someone else's file
      const entry = found?.path === wanted ? found : null;
      if (entry?.type === 'file')
        await reader.copyOut([{ entry, to: Buffer.from(path.join(work, `${name}${suffix}`)) }], work);
      else if (index === 0)
        throw new QrvError(
          'io',
          'data-missing',
          `${place.inside} is not a file in ${copy.id}${found && found.path !== wanted ? ' (a link is on its way there)' : ''}`,
          'pick another --as-of',
        );
    }
  });
  return path.join(work, name);
}

async function recoverSqlite(ctx: Context, r: Chosen, request: RecoverObjectRequest): Promise<Summary> {
  const to = request.to;
  if (!to)
    throw new QrvError(
      'usage',
      'usage',
      `recovering ${r.object} needs --to PATH (the file to write)`,
      'e.g. `--to /root/app-as-of-0900.db`',
    );
  const work = await privateWorkDir('qrv-sqlite-');
  try {
    const db = await readOut(ctx, r, work);
    const check = await sqlite(db, 'PRAGMA integrity_check;');
    if (check !== 'ok')
      throw new QrvError(
        'verify',
        'verify-mismatch',
        `the copy of ${r.object} fails integrity_check: ${check.split('\n')[0]}`,
        'try an older --as-of',
      );
    const out = path.join(work, 'out.db');
    await sqlite(db, `VACUUM INTO '${out.replace(/'/g, "''")}';`);
    const output = await createOutput(to, request.force);
    try {
      await output.file.writeFile(await fs.readFile(out));
      await output.file.sync();
    } finally {
      await output.close();
    }
    const bytes = (await fs.stat(out)).size;
    const { groupId, copies } = r.chosen;
    return {
      data: { object: r.object, asOf: r.asOf, groupId, copies, to, bytes, integrity: 'ok' },
      lines: [chosenLine(r), `wrote ${to} (${bytes} bytes), integrity_check ok`],
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

export async function recoverObject(ctx: Context, request: RecoverObjectRequest): Promise<Summary> {
  const { writer } = parseObjectId(request.object);
  const data: CatalogData = await ctx.catalog.read();
  const chosen = chooseObjectAt(data, request.object, request.asOf ?? 'now', ctx.now());
  if (request.into !== undefined && writer.name !== 'postgresql')
    throw new QrvError(
      'usage',
      'usage',
      '--into restores a PostgreSQL database into its running cluster',
      `give --to PATH for ${request.object}`,
    );
  if (writer.name === 'sqlite') return recoverSqlite(ctx, chosen, request);
  return recoverPostgresql(ctx, chosen, request);
}
