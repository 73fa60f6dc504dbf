// One psql session to a running cluster, as the cluster's owner over its unix socket (peer or
// trust authentication, no password, no TCP), held open for as long as the writer needs it:
// pg_backup_start and pg_backup_stop must run on the same session.
import path from 'node:path';
import { HeldSession } from '../../system/session.ts';
import { asUser, ownerEnv } from '../../system/users.ts';
import type { Cluster } from './clusters.ts';
import { binDir } from './clusters.ts';

export type Reach = Pick<Cluster, 'major' | 'port' | 'socketDir' | 'owner'>;

/** A psql session to `cluster`'s database `database`, its answers unaligned, tuples only, stopping at the first error. */
export async function psqlSession(cluster: Reach, database = 'postgres'): Promise<HeldSession> {
  const dir = await binDir(cluster.major);
  const psql = dir ? path.join(dir, 'psql') : 'psql';
  const args = [
    '-X',
    '-q',
    '-A',
    '-t',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    cluster.socketDir,
    '-p',
    cluster.port,
    '-d',
    dbnameArg(database),
  ];
  const run = asUser(cluster.owner, psql, args);
  return new HeldSession({
    name: 'psql',
    program: run.program,
    args: run.args,
    options: { cwd: '/', ...ownerEnv({ PGAPPNAME: 'qrv', PGCONNECT_TIMEOUT: '10', PGUSER: cluster.owner }) },
    markCommand: (mark) => `\\echo ${mark}`,
  });
}

/**
 * A database name as libpq's -d argument: always `dbname='…'`, since a name with an "=" in it
 * (or one starting postgresql://) would otherwise be read as a whole connection string, its
 * host and user winning over qrv's -h and -U (anyone allowed CREATE DATABASE chooses names).
 */
export function dbnameArg(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A string as an SQL literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Asks one thing of a fresh session and closes it. */
export async function psqlOnce(cluster: Reach, sql: string, timeoutMs = 30_000): Promise<string[]> {
  const session = await psqlSession(cluster);
  try {
    return await session.ask(sql, timeoutMs);
  } finally {
    await session.close();
  }
}
