// Real PostgreSQL clusters for the writer tests (root only): Debian's postgresql binaries, a data
// folder the test gives (on a loop-mounted filesystem, usually), run as the postgres user on a
// private unix socket folder and no TCP at all; stopped (immediate) in teardown.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export const PG_MAJOR = '15';
export const PG_BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;

export interface PgCluster {
  dataDir: string;
  socketDir: string;
  name: string;
  /** runs psql as postgres against `database`, unaligned and tuples only; returns its output */
  sql(sql: string, database?: string): Promise<string>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

const pgUser = (program: string, args: string[]) =>
  ['runuser', ['-u', 'postgres', '--', path.join(PG_BIN, program), ...args]] as const;

/** Makes `dir` (and its parents up to /tmp) reachable by postgres, and `dir` its own. */
export async function givePostgres(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  for (let at = path.dirname(dir); at !== '/' && at !== '/tmp'; at = path.dirname(at)) await fs.chmod(at, 0o711);
  await execa('chown', ['postgres:postgres', dir]);
}

export async function startCluster(
  t: { teardown: (fn: () => unknown) => void },
  options: { dataDir: string; name: string; walDir?: string; superuser?: string; port?: number; existing?: boolean },
): Promise<PgCluster> {
  const { dataDir, name } = options;
  if (!options.existing) await givePostgres(dataDir);
  if (options.walDir) await givePostgres(options.walDir);
  const socketDir = await fs.mkdtemp('/tmp/qrv-pgsock-');
  await execa('chown', ['postgres:postgres', socketDir]);
  const init = [
    '-D',
    dataDir,
    '-A',
    'trust',
    '-U',
    options.superuser ?? 'postgres',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale',
    'C',
  ];
  if (options.walDir) init.push('--waldir', options.walDir);
  if (!options.existing) await execa(...pgUser('initdb', init));
  const port = String(options.port ?? 5432);
  const settings = `-c listen_addresses='' -c unix_socket_directories='${socketDir}' -c port=${port} -c cluster_name=${name} -c fsync=on -c archive_mode=off`;
  await execa(...pgUser('pg_ctl', ['-D', dataDir, '-o', settings, '-l', path.join(socketDir, 'log'), '-w', 'start']), {
    cwd: '/',
  });
  let running = true;
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    running = false;
    await execa(...pgUser('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']), { reject: false, cwd: '/' });
  };
  t.teardown(async () => {
    await stop('immediate');
    await fs.rm(socketDir, { recursive: true, force: true });
  });
  const sql = async (text: string, database = 'postgres') =>
    (
      await execa(
        ...pgUser('psql', [
          '-X',
          '-q',
          '-A',
          '-t',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          socketDir,
          '-p',
          port,
          '-U',
          options.superuser ?? 'postgres',
          '-d',
          database,
          '-c',
          text,
        ]),
        { cwd: '/' },
      )
    ).stdout.trim();
  return { dataDir, socketDir, name, sql, stop };
}
