// The PostgreSQL writer (F13). Objects are databases of running clusters: "main/billing",
// "main/*". Bringing a cluster to rest: CHECKPOINT (so that replay on start is short), then the
// non-exclusive pg_backup_start on one held session (or, --checkpoint spread, pg_backup_start
// waiting for a checkpoint paced like the server's own: no burst of writes for its clients); pg_backup_stop on that same session after
// the snapshot returns the backup_label and tablespace_map kept with the snapshot. The snapshot
// itself is of every volume the cluster spans (data folder, pg_wal, tablespaces) in one freeze
// window, so it is crash-consistent on its own: a copy starts by replaying its WAL.
import { SessionError, type HeldSession } from '../../system/session.ts';
import type { Hold, HoldOptions, HoldRecord, Writer, WriterInstance, WriterObject } from '../writer.ts';
import { runningClusters, type Cluster } from './clusters.ts';
import { literal, psqlOnce, psqlSession, type Reach } from './psql.ts';
import { isQrvError, QrvError } from '../../core/errors.ts';

const NAME = /^[A-Za-z0-9._-]+$/;

/** A cluster's name in object ids: its Debian name, else its cluster_name, else "port-PORT". */
export function instanceName(cluster: Cluster, clusterName: string): string {
  if (cluster.debianName) return cluster.debianName;
  const short = clusterName.split('/').pop() ?? '';
  return NAME.test(short) ? short : `port-${cluster.port}`;
}

function reachOf(instance: WriterInstance): Reach {
  const { major = '', port = '', socketDir = '', owner = '' } = instance.reach;
  return { major, port, socketDir, owner };
}

async function instancesOf(cluster: Cluster): Promise<{ instance: WriterInstance; databases: string[] }> {
  if (!cluster.socketDir)
    throw new QrvError(
      'hook',
      'writer-failed',
      `the PostgreSQL cluster in ${cluster.dataDir} listens on no unix socket`,
      'set unix_socket_directories: qrv reaches a cluster only through its socket, as its owner',
    );
  const lines = await psqlOnce(
    cluster,
    'SHOW cluster_name;\nSELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1;',
  ).catch((error: unknown) => {
    throw asWriterError(`the PostgreSQL cluster in ${cluster.dataDir}`, 'could not be reached', error);
  });
  const [clusterName = '', ...databases] = lines;
  const { major, port, socketDir, owner, dataDir } = cluster;
  return {
    instance: {
      writer: 'postgresql',
      name: instanceName(cluster, clusterName),
      paths: [...new Set([dataDir, cluster.walDir, ...cluster.tablespaces])],
      reach: { major, port, socketDir, owner, dataDir },
    },
    databases,
  };
}

/**
 * The databases of every running cluster whose name is `instance` ("*": every cluster) that
 * `wanted` keeps. A cluster that cannot be reached (starting, stopping, refusing qrv) hides none
 * of the others: its failure is thrown only when no cluster of that name was reached, as it may
 * be the one asked for.
 */
async function objectsOf(instance: string, wanted: (database: string) => boolean): Promise<WriterObject[]> {
  const found: WriterObject[] = [];
  const named: string[] = [];
  let failure: unknown = null;
  for (const cluster of await runningClusters()) {
    const got = await instancesOf(cluster).catch((error: unknown) => {
      // one whose name is known without asking it, and is another, hides nothing asked for
      const known = cluster.debianName ?? cluster.nameOnCommandLine?.split('/').pop() ?? null;
      if (instance === '*' || known === null || known === instance) failure ??= error;
      return null;
    });
    if (!got || (instance !== '*' && got.instance.name !== instance)) continue;
    named.push(cluster.dataDir);
    for (const name of got.databases) if (wanted(name)) found.push({ instance: got.instance, name });
  }
  if (!named.length && failure) throw failure;
  // any user may run a cluster and name it so (cluster_name): which one is meant cannot be told
  if (instance !== '*' && named.length > 1)
    throw new QrvError(
      'hook',
      'writer-failed',
      `${named.length} running PostgreSQL clusters are named ${instance}: ${named.join(', ')}`,
      'give each cluster its own cluster_name, and stop any that should not be running',
    );
  return found;
}

async function find(pattern: string): Promise<WriterObject[]> {
  const slash = pattern.lastIndexOf('/');
  const instance = slash < 0 ? pattern : pattern.slice(0, slash);
  const database = slash < 0 ? '*' : pattern.slice(slash + 1);
  return objectsOf(instance, (name) => database === '*' || name === database);
}

function lsnLine(lines: string[], what: string): string {
  const lsn = lines.find((l) => /^[0-9A-F]+\/[0-9A-F]+$/i.test(l.split(' ')[0] ?? ''));
  if (!lsn)
    throw new QrvError(
      'hook',
      'writer-failed',
      `${what} answered no position (${lines.join(' ') || 'nothing'})`,
      'see the PostgreSQL server log',
    );
  return lsn;
}

const fromBase64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('utf8');

/** How long a spread checkpoint may take: its pacing (checkpoint_timeout × checkpoint_completion_target), twice (one may be under way). */
const SPREAD_SQL =
  "SELECT round(2000 * (SELECT setting::float8 FROM pg_settings WHERE name = 'checkpoint_timeout') * (SELECT setting::float8 FROM pg_settings WHERE name = 'checkpoint_completion_target'));";

/**
 * fast: CHECKPOINT (every dirty buffer written now), so that pg_backup_start's own is short;
 * spread: pg_backup_start(label, false) waits for a checkpoint paced as the server paces its own.
 */
async function bringToRest(session: HeldSession, options: HoldOptions): Promise<{ start: string; method: string }> {
  const timeout = (ms: number) => `SET statement_timeout = ${Math.max(1, Math.round(ms))};`;
  if (options.checkpoint === 'spread') {
    const spreadMs = Number((await session.ask(SPREAD_SQL, options.timeoutMs + 5000))[0]);
    const budget = options.timeoutMs + (Number.isFinite(spreadMs) ? spreadMs : 0);
    const answer = await session.ask(
      `${timeout(budget)}\nSELECT pg_backup_start(${literal(options.label)}, false);`,
      budget + 5000,
    );
    const start = lsnLine(answer, 'pg_backup_start');
    return { start, method: `spread checkpoint, pg_backup_start at ${start}` };
  }
  await session.ask(`${timeout(options.timeoutMs)}\nCHECKPOINT;`, options.timeoutMs + 5000);
  const answer = await session.ask(
    `SELECT pg_backup_start(${literal(options.label)}, true);`,
    options.timeoutMs + 5000,
  );
  const start = lsnLine(answer, 'pg_backup_start');
  return { start, method: `CHECKPOINT, pg_backup_start at ${start}` };
}

async function hold(instance: WriterInstance, options: HoldOptions): Promise<Hold> {
  const who = `PostgreSQL cluster ${instance.name}`;
  const session = await psqlSession(reachOf(instance));
  let rest: { start: string; method: string };
  try {
    rest = await bringToRest(session, options);
  } catch (error) {
    await session.close();
    throw asWriterError(who, 'could not be brought to rest', error);
  }
  const { start } = rest;
  return {
    instance,
    method: rest.method,
    release: async (): Promise<HoldRecord> => {
      try {
        const lines = await session.ask(
          "SELECT s.lsn || ' ' || translate(encode(convert_to(s.labelfile, 'UTF8'), 'base64'), E'\\n', '') || ' ' || coalesce(translate(encode(convert_to(s.spcmapfile, 'UTF8'), 'base64'), E'\\n', ''), '') FROM pg_backup_stop(false) s;",
          options.timeoutMs + 5000,
        );
        const [stop, label, map] = lsnLine(lines, 'pg_backup_stop').split(' ');
        const files: Record<string, string> = { backup_label: fromBase64(label) };
        if (map) files['tablespace_map'] = fromBase64(map);
        return { position: `${start} (backup stopped at ${stop})`, files };
      } catch (error) {
        throw asWriterError(who, 'was not held to the end of the snapshot', error, true);
      } finally {
        await session.close();
      }
    },
    abandon: () => session.close(),
  };
}

function asWriterError(who: string, what: string, error: unknown, held = false): Error {
  if (isQrvError(error)) return error;
  if (!(error instanceof SessionError)) return error as Error;
  const said = error.message.replace(/^(\S*psql:\s+)+(error:\s+)?/, '').replace(/^(ERROR|FATAL):\s+/, '');
  // statement_timeout (the writer's own timeout, set on the session) ends a slow CHECKPOINT there
  const timeout = error.reason === 'timeout' || /canceling statement due to statement timeout/.test(said);
  const hint = timeout
    ? 'it did not answer in time (a long checkpoint?): raise --hook-timeout (how long a writer may take), or snapshot at a quieter time'
    : held
      ? 'its session ended while the snapshot was taken (the server stopped, or the backend was terminated): nothing was kept; run the job again'
      : "qrv connects as the data folder's owner over the unix socket and needs a superuser (or pg_checkpoint and EXECUTE on pg_backup_start): check the cluster is running and see its log";
  return new QrvError('hook', timeout ? 'writer-timeout' : 'writer-failed', `${who} ${what}: ${said}`, hint);
}

export const postgresqlWriter: Writer = {
  name: 'postgresql',
  summary: 'PostgreSQL clusters running on this host; objects are databases (CLUSTER/DATABASE, CLUSTER/*)',
  find,
  discover: () => objectsOf('*', () => true),
  hold,
};
