// Running PostgreSQL clusters on this host, found from their processes: a `postgres` process
// whose data folder's postmaster.pid names it is a postmaster; postmaster.pid says where its
// socket is and on which port; PG_VERSION its major version; the data folder's owner is the
// user it runs as; pg_wal and pg_tblspc/* may be links to other filesystems (other volumes).
// Debian's layout (/etc/postgresql/MAJOR/NAME, pg_ctlcluster) is recognised by the
// postmaster's config_file; its cluster is then named NAME.
// Anyone can start a process called postgres and write a postmaster.pid: a process is taken for
// a postmaster only when it runs as its data folder's owner (as PostgreSQL insists), who is not
// root, and owns that postmaster.pid; its files are read without following a link or waiting on
// a FIFO, and its PG_VERSION must be a version number (it names the programs qrv runs).
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { userName } from '../../system/users.ts';
import { compareText } from '../../core/text.ts';

export interface Cluster {
  pid: number;
  dataDir: string;
  /** the major version (PG_VERSION): "15" */
  major: string;
  port: string;
  /** the first folder of unix_socket_directories; empty when it listens on none */
  socketDir: string;
  owner: string;
  /** its Debian cluster name (/etc/postgresql/MAJOR/NAME) when it is one */
  debianName: string | null;
  /** the cluster_name its command line sets (-c cluster_name=X), if it does: its name when it cannot be asked */
  nameOnCommandLine: string | null;
  /** the real folders of pg_wal and each tablespace when they are elsewhere */
  walDir: string;
  tablespaces: string[];
}

/** The lines of a postmaster.pid: pid, data folder, start time, port, socket folder, listen address, shared memory key, status. */
export function parsePostmasterPid(
  text: string,
): { pid: number; dataDir: string; port: string; socketDir: string } | null {
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !lines[1]) return null;
  return { pid, dataDir: lines[1], port: (lines[3] ?? '').trim(), socketDir: (lines[4] ?? '').trim() };
}

/** The cluster_name a postmaster's command line sets ("-c cluster_name=X", "-c", "cluster_name=X", "--cluster-name=X"), if any. */
export function clusterNameOf(cmdline: string[]): string | null {
  for (const arg of cmdline) {
    const match = /^(?:-c)?(?:cluster_name|--cluster[-_]name)=(.*)$/.exec(arg);
    if (match) return match[1] ?? null;
  }
  return null;
}

/** The Debian cluster a postmaster's command line names by its config_file, if any. */
export function debianClusterOf(cmdline: string[]): { major: string; name: string } | null {
  for (const arg of cmdline) {
    const match = /^(?:config_file=)?\/etc\/postgresql\/([0-9.]+)\/([^/]+)\/postgresql\.conf$/.exec(
      arg.replace(/^-c/, '').replace(/^--config[-_]file=/, 'config_file='),
    );
    if (match) return { major: match[1] as string, name: match[2] as string };
  }
  return null;
}

/** A major version as PG_VERSION holds it: "15", "9.6"; nothing that could name another folder. */
export const MAJOR = /^[0-9]+(\.[0-9]+)?$/;

/** A small regular file's text and owner, opened without following a link or waiting on a FIFO; null otherwise. */
export async function smallFile(file: string): Promise<{ text: string; uid: number } | null> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (!handle) return null;
  try {
    const st = await handle.stat();
    if (!st.isFile()) return null;
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), uid: st.uid };
  } finally {
    await handle.close();
  }
}

/** A process's real, effective, saved and filesystem uids (/proc/PID/status), or null. */
async function uidsOf(proc: string, pid: number): Promise<number[] | null> {
  const status = await readFile(`${proc}/${pid}/status`, 'utf8').catch(() => '');
  const line = /^Uid:\s+(.*)$/m.exec(status)?.[1];
  return line ? line.trim().split(/\s+/).map(Number) : null;
}

async function postgresPids(proc: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir(proc).catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const comm = (await readFile(`${proc}/${name}/comm`, 'utf8').catch(() => '')).trim();
    if (comm === 'postgres' || comm === 'postmaster') pids.push(Number(name));
  }
  return pids;
}

/** pg_wal's real folder, and each tablespace's (links in pg_tblspc). */
async function linkedDirs(dataDir: string): Promise<{ walDir: string; tablespaces: string[] }> {
  const walDir = await realpath(path.join(dataDir, 'pg_wal')).catch(() => path.join(dataDir, 'pg_wal'));
  const tablespaces: string[] = [];
  const spc = path.join(dataDir, 'pg_tblspc');
  for (const oid of await readdir(spc).catch(() => [] as string[])) {
    const link = path.join(spc, oid);
    if (!(await lstat(link).catch(() => null))?.isSymbolicLink()) continue;
    const target = await realpath(link).catch(async () => readlink(link));
    tablespaces.push(target);
  }
  return { walDir, tablespaces };
}

async function clusterOf(proc: string, pid: number): Promise<Cluster | null> {
  // A postgres process works in its data folder; the postmaster is the one postmaster.pid names.
  // the folder itself, through /proc (a path to it could be swapped meanwhile)
  const here = `${proc}/${pid}/cwd`;
  const cwd = await readlink(here).catch(() => null);
  if (!cwd) return null;
  const { uid } = await stat(here);
  const uids = await uidsOf(proc, pid);
  if (uid === 0 || !uids?.length || uids.some((u) => u !== uid)) return null;
  const file = await smallFile(path.join(here, 'postmaster.pid'));
  const pidFile = file?.uid === uid ? parsePostmasterPid(file.text) : null;
  if (!pidFile || pidFile.pid !== pid) return null;
  const major = ((await smallFile(path.join(here, 'PG_VERSION')))?.text ?? '').trim();
  const owner = userName(uid);
  if (!MAJOR.test(major) || !owner) return null;
  const cmdline = (await readFile(`${proc}/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const debian = debianClusterOf(cmdline);
  return {
    pid,
    dataDir: cwd,
    major,
    port: pidFile.port,
    socketDir: pidFile.socketDir,
    owner,
    debianName: debian?.major === major ? debian.name : null,
    nameOnCommandLine: clusterNameOf(cmdline),
    ...(await linkedDirs(cwd)),
  };
}

/** Every PostgreSQL cluster running on this host. */
export async function runningClusters(proc = '/proc'): Promise<Cluster[]> {
  const found: Cluster[] = [];
  for (const pid of await postgresPids(proc)) {
    const cluster = await clusterOf(proc, pid).catch(() => null);
    if (cluster) found.push(cluster);
  }
  return found.sort((a, b) => compareText(a.dataDir, b.dataDir));
}

/** Where a major version's programs are: Debian's /usr/lib/postgresql/MAJOR/bin, else PATH. */
export async function binDir(major: string): Promise<string | null> {
  if (!MAJOR.test(major)) return null;
  const dir = `/usr/lib/postgresql/${major}/bin`;
  return (await stat(path.join(dir, 'psql')).catch(() => null)) ? dir : null;
}
