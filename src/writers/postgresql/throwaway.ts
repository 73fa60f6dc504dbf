// A throwaway PostgreSQL server on a writable clone of a copy (F13): the same major version as
// the copy's PG_VERSION, run as the data folder's owner, listening on a private socket folder
// only (no TCP), with nothing that reaches out of the clone — no archiving, no replication
// connection, no restore_command, no preloaded libraries, its own pg_hba — so that starting it
// can touch nothing of production. It replays the copy's WAL (crash recovery) and is stopped by
// the caller. It dies with qrv: setpriv gives it a parent-death signal.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { QrvError } from '../../core/errors.ts';
import { converse, tool, type Conversation } from '../../system/tools.ts';
import { ownerEnv, userName } from '../../system/users.ts';
import { makeWorkDir, removeTree } from '../../system/work-dirs.ts';
import { binDir, MAJOR, smallFile } from './clusters.ts';

export interface Throwaway {
  socketDir: string;
  port: string;
  owner: string;
  major: string;
  /** runs a program of the server's version as the owner, against the server */
  run(
    program: string,
    args: string[],
    io?: { stdin?: Readable; stdout?: Writable },
  ): Promise<{ exitCode: number; stderr: string }>;
  stop(): Promise<void>;
}

const PORT = '5432';

/** The settings that keep the server to itself, on its command line (they win over the copy's configuration files). */
export function isolatedSettings(runDir: string): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: runDir,
    port: PORT,
    hba_file: path.join(runDir, 'pg_hba.conf'),
    ident_file: path.join(runDir, 'pg_ident.conf'),
    archive_mode: 'off',
    restore_command: '',
    primary_conninfo: '',
    primary_slot_name: '',
    synchronous_standby_names: '',
    shared_preload_libraries: '',
    session_preload_libraries: '',
    local_preload_libraries: '',
    recovery_end_command: '',
    archive_cleanup_command: '',
    max_wal_senders: '0',
    ssl: 'off',
    logging_collector: 'off',
    log_destination: 'stderr',
    autovacuum: 'off',
    cluster_name: 'qrv-recover',
    external_pid_file: '',
  };
  return Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/** Makes the clone startable: the production server's lock and standby signals are the clone's to drop. */
async function prepareDataDir(dataDir: string): Promise<void> {
  for (const name of ['postmaster.pid', 'postmaster.opts', 'standby.signal', 'recovery.signal'])
    await fs.rm(path.join(dataDir, name), { force: true });
}

/** The server's run folder, the owner's (0700), in a folder of root's marked as this process's. */
async function runDirFor(uid: number, gid: number): Promise<string> {
  const outer = await makeWorkDir('qrv-pg-');
  await fs.chmod(outer, 0o711);
  const dir = path.join(outer, 'run');
  await fs.mkdir(dir, { mode: 0o700 });
  await fs.writeFile(path.join(dir, 'postgresql.conf'), '# qrv: every setting is on the command line\n', {
    mode: 0o600,
  });
  await fs.writeFile(path.join(dir, 'pg_hba.conf'), 'local all all trust\n', { mode: 0o600 });
  await fs.writeFile(path.join(dir, 'pg_ident.conf'), '', { mode: 0o600 });
  for (const name of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'])
    await fs.chown(path.join(dir, name), uid, gid);
  // Only the owner (and root) may reach its socket.
  await fs.chown(dir, uid, gid);
  return dir;
}

function asOwner(uid: number, gid: number, program: string, args: string[]): string[] {
  return [
    '--reuid',
    String(uid),
    '--regid',
    String(gid),
    '--init-groups',
    '--pdeathsig',
    'KILL',
    '--',
    program,
    ...args,
  ];
}

async function waitReady(
  server: Conversation,
  bin: string,
  id: { uid: number; gid: number; runDir: string },
  limitMs: number,
): Promise<void> {
  let ended = false;
  void server.exited.then(
    () => (ended = true),
    () => (ended = true),
  );
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline && !ended) {
    const ready = await tool(
      'setpriv',
      asOwner(id.uid, id.gid, path.join(bin, 'pg_isready'), ['-q', '-h', id.runDir, '-p', PORT]),
      { ...ownerEnv() },
    );
    if (ready.exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await server.drained;
  const said =
    server
      .stderr()
      .trim()
      .split('\n')
      .filter((l) => /FATAL|PANIC|ERROR/.test(l))
      .pop() ??
    server.stderr().trim().split('\n').pop() ??
    '';
  server.kill();
  throw new QrvError(
    'hook',
    'writer-failed',
    `the copy's PostgreSQL did not come up${ended ? '' : ` within ${limitMs / 1000} s`}${said ? `: ${said.trim()}` : ''}`,
    'the copy may be damaged or need a newer PostgreSQL; its own log lines say why',
  );
}

/** Starts a server of the copy's major version on `dataDir` (a writable clone), and waits until it accepts connections. */
export async function startThrowaway(dataDir: string, limitMs = 30 * 60_000): Promise<Throwaway> {
  // the copy's PG_VERSION is its owner's: never a link followed, a FIFO waited on, nor a path
  const major = ((await smallFile(path.join(dataDir, 'PG_VERSION')))?.text ?? '').trim();
  if (!MAJOR.test(major))
    throw new QrvError(
      'hook',
      'writer-failed',
      "the copy's data folder has no PG_VERSION file with a version number in it",
      'the copy may be damaged: try another --as-of, or recover its volumes with `qrv recover --group`',
    );
  const bin = await binDir(major);
  if (!bin)
    throw new QrvError(
      'environment',
      'missing-tool',
      `PostgreSQL ${major} is not installed`,
      `install it with: apt-get install postgresql-${major}`,
    );
  const st = await fs.lstat(dataDir);
  const owner = st.isDirectory() && st.uid !== 0 ? userName(st.uid) : null;
  if (!owner)
    throw new QrvError(
      'hook',
      'writer-failed',
      `the copy's data folder belongs to ${st.uid === 0 ? 'root, whom PostgreSQL never runs as' : `uid ${st.uid}, who is no user here`}`,
      'recover the volume and start it where its owner exists',
    );
  await prepareDataDir(dataDir);
  const runDir = await runDirFor(st.uid, st.gid);
  const id = { uid: st.uid, gid: st.gid, runDir };
  const server = converse(
    'setpriv',
    asOwner(st.uid, st.gid, path.join(bin, 'postgres'), [
      '-D',
      dataDir,
      '-c',
      `config_file=${path.join(runDir, 'postgresql.conf')}`,
      ...isolatedSettings(runDir),
    ]),
    // none of qrv's environment: the owner's superuser could read it there (COPY FROM PROGRAM 'env')
    { cwd: '/', ...ownerEnv() },
  );
  server.stdin.end();
  try {
    await waitReady(server, bin, id, limitMs);
  } catch (error) {
    await removeTree(path.dirname(runDir)); // the run folder is the owner's
    throw error;
  }
  return handleOf(server, bin, { ...id, owner, major });
}

/** The running server's handle: run its programs as the owner against it; stop it and remove its folder. */
function handleOf(
  server: Conversation,
  bin: string,
  id: { uid: number; gid: number; runDir: string; owner: string; major: string },
): Throwaway {
  const { uid, gid, runDir, owner, major } = id;
  return {
    socketDir: runDir,
    port: PORT,
    owner,
    major,
    run: async (program, args, io = {}) => {
      const result = await tool(
        'setpriv',
        asOwner(uid, gid, path.join(bin, program), ['-h', runDir, '-p', PORT, '-U', owner, ...args]),
        {
          cwd: '/',
          ...ownerEnv(),
          ...(io.stdin !== undefined ? { stdin: io.stdin } : {}),
          ...(io.stdout !== undefined ? { stdout: io.stdout } : {}),
        },
      );
      return { exitCode: result.exitCode, stderr: result.stderr };
    },
    stop: async () => {
      // SIGINT: a fast shutdown; the clone is thrown away, so a kill after 30 s loses nothing.
      server.signal('SIGINT');
      const timer = setTimeout(() => server.signal('SIGKILL'), 30_000);
      await server.exited.catch(() => undefined);
      clearTimeout(timer);
      await removeTree(path.dirname(runDir)); // the run folder is the owner's
    },
  };
}
