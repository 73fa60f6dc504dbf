// A real OpenSSH server for the SSH store's tests: Debian's sshd, started by the test on
// 127.0.0.1 with a host key and a user key made for it, and stopped when the test ends. The
// client side gets its own known_hosts and key through ssh options, never the machine's own.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { tmpDir } from './tmp.ts';

export interface Sshd {
  port: number;
  /** the folder the server's and client's files are in */
  dir: string;
  /** the client's ssh options: its key, and a known_hosts that holds the server's key */
  sshOptions: string[];
  /** the same, with a known_hosts that does not know the server */
  strangerOptions: string[];
  stop(): Promise<void>;
}

export const SSHD = '/usr/sbin/sshd';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Kills `pid` and every process below it (sshd's sessions call setsid: no process group holds them all). */
async function killTree(pid: number): Promise<void> {
  const parents = new Map<number, number>();
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  for (const member of tree) {
    try {
      process.kill(member, 'SIGKILL');
    } catch {
      // ended already
    }
  }
}

async function keygen(file: string): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'qrv-test', '-f', file]);
  return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
}

/** `subsystem`: the command sshd runs for sftp instead of OpenSSH's sftp-server (a hostile server). */
export async function startSshd(
  t: { teardown: (fn: () => unknown) => void },
  options: { subsystem?: string } = {},
): Promise<Sshd> {
  const dir = await tmpDir(t, 'qrv-sshd-');
  const hostKey = await keygen(path.join(dir, 'host_key'));
  const userKey = await keygen(path.join(dir, 'user_key'));
  await fs.writeFile(path.join(dir, 'authorized_keys'), `${userKey}\n`, { mode: 0o600 });
  // the privilege separation folder Debian's ssh service would make
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      'PidFile none',
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `Subsystem sftp ${options.subsystem ?? '/usr/lib/openssh/sftp-server'}`,
      'LogLevel ERROR',
    ];
    await fs.writeFile(path.join(dir, 'sshd_config'), `${config.join('\n')}\n`);
    await fs.writeFile(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
    await fs.writeFile(path.join(dir, 'known_hosts.empty'), '');
    const server = execa(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { reject: false, stdin: 'ignore' });
    let up = false;
    for (let i = 0; i < 100 && !up && server.exitCode === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      up = await accepts(port);
    }
    if (!up) {
      await killTree(server.pid!);
      const result = await server;
      if (attempt < 3) continue;
      throw new Error(`sshd did not start: ${String(result.stderr)}`);
    }
    const stop = async (): Promise<void> => {
      await killTree(server.pid!);
      await server;
    };
    t.teardown(stop);
    const client = (knownHosts: string): string[] => [
      `IdentityFile=${dir}/user_key`,
      'IdentitiesOnly=yes',
      `UserKnownHostsFile=${knownHosts}`,
      'GlobalKnownHostsFile=/dev/null',
      'LogLevel=ERROR',
    ];
    return {
      port,
      dir,
      sshOptions: client(`${dir}/known_hosts`),
      strangerOptions: client(`${dir}/known_hosts.empty`),
      stop,
    };
  }
}
