// `qrv recover postgresql:CLUSTER/DB [--as-of T] --to FILE | --into NEWDB` (F13): a throwaway
// server of the same major version is started on writable clones (an overlay over a read-only
// mount) of the copies that hold the cluster — data folder, pg_wal, tablespaces, each on the
// volume it was on — with its links pointed at the clones, never at production; it replays the
// copy's WAL to a consistent state; then pg_dump takes the one database out (custom format),
// into FILE, or restored into the running cluster as NEWDB. The server is stopped and the
// clones are thrown away in one finally, whatever happened.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AppObject } from '../catalog/schema.ts';
import { QrvError } from '../core/errors.ts';
import { writableClone, type WritableClone } from '../browse/writable-clone.ts';
import type { Context } from '../engine/context.ts';
import type { Summary } from '../output/printer.ts';
import { tool } from '../system/tools.ts';
import { asUser, ownerEnv } from '../system/users.ts';
import { binDir } from '../writers/postgresql/clusters.ts';
import { dbnameArg, psqlOnce, type Reach } from '../writers/postgresql/psql.ts';
import { startThrowaway, type Throwaway } from '../writers/postgresql/throwaway.ts';
import { postgresqlWriter } from '../writers/postgresql/writer.ts';
import { sourceOf } from './recover.ts';
import { chosenLine, createOutput, privateWorkDir, type Chosen, type RecoverObjectRequest } from './object-output.ts';

type Place = NonNullable<AppObject['places']>[number];

/** Points the clone's pg_wal and tablespace links at the clones of where they were. */
async function relink(dataDir: string, record: AppObject, placeIn: (p: Place) => string): Promise<void> {
  const places = record.places ?? [];
  const links = [{ link: path.join(dataDir, 'pg_wal'), wanted: record.paths[1] }];
  for (const oid of await fs.readdir(path.join(dataDir, 'pg_tblspc')).catch(() => [] as string[]))
    links.push({ link: path.join(dataDir, 'pg_tblspc', oid), wanted: undefined });
  for (const { link, wanted } of links) {
    const st = await fs.lstat(link).catch(() => null);
    if (!st?.isSymbolicLink()) continue;
    const target = await fs.readlink(link);
    const place =
      places.find((p) => p.path === (wanted ?? path.resolve(dataDir, target))) ?? places.find((p) => p.path === target);
    if (!place)
      throw new QrvError(
        'refused',
        'group-incomplete',
        `${path.relative(dataDir, link)} in the copy points to ${target}, which the snapshot did not record`,
        'recover the volumes with `qrv recover --group` and start the cluster by hand',
      );
    await fs.rm(link);
    await fs.symlink(placeIn(place), link);
    await fs.lchown(link, st.uid, st.gid);
  }
}

/**
 * The data folder `inside` a clone, which must be there: its path was recorded with every link
 * resolved, so a link on the way (its owner's, in the copy) could only lead out of the clone.
 */
export async function dataDirIn(root: string, inside: string): Promise<string> {
  const dataDir = path.join(root, inside);
  const real = await fs.realpath(dataDir).catch(() => null);
  if (real !== path.join(await fs.realpath(root), inside))
    throw new QrvError(
      'refused',
      'group-incomplete',
      `the data folder ${inside} is ${real === null ? 'not in the copy' : 'a link, or under one, in the copy'}`,
      'recover its volumes with `qrv recover --group` and look at them by hand',
    );
  return dataDir;
}

/** The running cluster the object came from, to restore into: its name, and its data folder (any user may name a cluster so). */
export async function productionCluster(record: AppObject): Promise<Reach> {
  const found = (await postgresqlWriter.find(`${record.instance}/*`)).find(
    (o) => o.instance.reach['dataDir'] === record.paths[0],
  );
  if (!found)
    throw new QrvError(
      'notFound',
      'unknown-object',
      `PostgreSQL cluster ${record.instance} is not running here from ${record.paths[0] ?? 'its data folder'}`,
      'start it, or give --to FILE for a dump instead of --into',
    );
  const { major = '', port = '', socketDir = '', owner = '' } = found.instance.reach;
  return { major, port, socketDir, owner };
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Restores the dump `file` into a new database `into` of the running cluster; a failure drops what it created. */
async function restoreInto(record: AppObject, file: string, into: string): Promise<void> {
  const cluster = await productionCluster(record);
  await psqlOnce(cluster, `CREATE DATABASE ${ident(into)};`).catch((error: Error) => {
    throw new QrvError(
      'refused',
      'target-exists',
      `cannot create database ${into} in cluster ${record.instance}: ${error.message.replace(/^\S*psql: (ERROR:\s+)?/, '')}`,
      'give --into a name no database has',
    );
  });
  const dir = await binDir(cluster.major);
  const run = asUser(cluster.owner, dir ? path.join(dir, 'pg_restore') : 'pg_restore', [
    '--exit-on-error',
    '-h',
    cluster.socketDir,
    '-p',
    cluster.port,
    '-d',
    dbnameArg(into),
  ]);
  const input = await fs.open(file, 'r');
  try {
    const result = await tool(run.program, run.args, { cwd: '/', ...ownerEnv(), stdin: input.createReadStream() });
    if (result.exitCode !== 0) {
      await psqlOnce(cluster, `DROP DATABASE IF EXISTS ${ident(into)};`).catch(() => undefined);
      throw new QrvError(
        'hook',
        'writer-failed',
        `pg_restore into ${into} failed: ${result.stderr.trim().split('\n').pop() ?? ''}`,
        `the new database was dropped; restore ${file.replace(/.*\//, '')} by hand with pg_restore`,
      );
    }
  } finally {
    await input.close();
  }
}

const LOCK_WAIT_MS = 10_000;

/** pg_dump of database `name` from the throwaway server into the file `to`. */
export async function dumpTo(server: Throwaway, name: string, to: string, force: boolean): Promise<number> {
  const out = await createOutput(to, force);
  try {
    // Nothing else runs on the throwaway server: a lock is held only by a transaction prepared
    // (PREPARE TRANSACTION) in the copy, which no one will ever end there; pg_dump waits no longer.
    const result = await server.run('pg_dump', ['-Fc', `--lock-wait-timeout=${LOCK_WAIT_MS}`, '-d', dbnameArg(name)], {
      stdout: out.file.createWriteStream({ autoClose: false }),
    });
    if (result.exitCode !== 0)
      throw new QrvError(
        'hook',
        'writer-failed',
        `pg_dump of ${name} from the copy failed: ${result.stderr.trim().split('\n').pop() ?? ''}`,
        /lock timeout|Query was: LOCK TABLE/.test(result.stderr)
          ? 'a transaction prepared in the copy (pg_prepared_xacts) locks a table: try another --as-of, or recover the volumes with `qrv recover --group`'
          : 'the copy may lack the database (created after it?): try another --as-of',
      );
    await out.file.sync();
    return (await out.file.stat()).size;
  } catch (error) {
    await out.remove(); // in the folder it was made in, whatever the path leads to now
    throw error;
  } finally {
    await out.close();
  }
}

/** A writable clone of each copy that holds a file of the object, into `clones` (closed by the caller). */
async function cloneCopies(ctx: Context, r: Chosen, clones: Map<string, WritableClone>): Promise<void> {
  for (const copy of r.chosen.copies) {
    if (!r.chosen.record.places?.some((p) => p.volume === copy.volume)) continue;
    const source = await sourceOf(ctx, copy.volume, copy.id);
    clones.set(copy.volume, await writableClone(source.path, copy.id));
  }
}

export async function recoverPostgresql(ctx: Context, r: Chosen, request: RecoverObjectRequest): Promise<Summary> {
  if ((request.to === undefined) === (request.into === undefined))
    throw new QrvError(
      'usage',
      'usage',
      `recovering ${r.object} needs --to FILE (a pg_dump archive) or --into NEWDB`,
      'e.g. `--to /root/billing.dump`',
    );
  const { record } = r.chosen;
  if (!record.places?.length)
    throw new QrvError(
      'refused',
      'group-incomplete',
      `the copy of ${r.object} does not say where its files were (recorded by an older qrv)`,
      'recover its volumes with `qrv recover --group`',
    );
  const clones = new Map<string, WritableClone>();
  let server: Throwaway | null = null;
  let work: string | null = null;
  try {
    await cloneCopies(ctx, r, clones);
    const placeIn = (p: Place) => path.join((clones.get(p.volume) as WritableClone).root, p.inside);
    const first = record.places[0] as Place;
    const dataDir = await dataDirIn((clones.get(first.volume) as WritableClone).root, first.inside);
    await relink(dataDir, record, placeIn);
    server = await startThrowaway(dataDir);
    if (request.to !== undefined) {
      const bytes = await dumpTo(server, record.name, request.to, request.force);
      return {
        data: {
          object: r.object,
          asOf: r.asOf,
          groupId: r.chosen.groupId,
          copies: r.chosen.copies,
          to: request.to,
          bytes,
        },
        lines: [chosenLine(r), `wrote ${request.to} (pg_dump custom format, ${bytes} bytes)`],
      };
    }
    work = await privateWorkDir('qrv-pgdump-');
    const file = path.join(work, 'dump');
    await dumpTo(server, record.name, file, false);
    await restoreInto(record, file, request.into as string);
    return {
      data: { object: r.object, asOf: r.asOf, groupId: r.chosen.groupId, copies: r.chosen.copies, into: request.into },
      lines: [chosenLine(r), `restored into database ${request.into} of cluster ${record.instance}`],
    };
  } finally {
    await server?.stop().catch(() => undefined);
    for (const clone of [...clones.values()].reverse())
      await clone
        .close()
        .catch((error: Error) => ctx.reporter.warn(`the clone of the copy was not removed: ${error.message}`));
    if (work) await fs.rm(work, { recursive: true, force: true });
  }
}
