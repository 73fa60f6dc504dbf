// An archive store on an SSH server, reached through the system's OpenSSH client (`ssh -s HOST
// sftp`), so that the admin's ~/.ssh/config, keys, agent and known_hosts apply as they expect. An
// unknown or changed host key is refused (StrictHostKeyChecking=yes comes first, and ssh keeps the
// first value it is given), never accepted; ssh never asks a question (BatchMode=yes). One
// connection per store, every request pipelined over it (sftp-client.ts).
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { QrvError } from '../core/errors.ts';
import { converse } from '../system/tools.ts';
import { FX, SftpClient, SftpClosedError, SftpStatusError, isDirectory } from './sftp-client.ts';
import {
  checkFolder,
  checkKey,
  objectMissing,
  storeFailed,
  storeFull,
  tooLarge,
  type ArchiveStore,
  type StoreLocation,
  type StoreObject,
} from './store.ts';

const LOCATION = /^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*):(.*)$/;
const OPTION = /^[A-Za-z][A-Za-z0-9]*=[^\n\r]*$/;
/** options qrv sets itself and will not let a store override */
const OWN_OPTIONS = new Set(['stricthostkeychecking', 'batchmode', 'userknownhostsfile2']);

export interface SshTarget {
  user: string | null;
  host: string;
  /** the folder on the server; relative to the login folder unless it starts with "/" */
  root: string;
}

export function parseSshLocation(location: string): SshTarget {
  const match = LOCATION.exec(location);
  if (!match || match[3]!.split('/').includes('..') || /[\n\r]/.test(match[3]!))
    throw new QrvError(
      'usage',
      'bad-store',
      `not an SSH store location: ${location}`,
      'write it as [user@]host:/path, e.g. backup@vault.example.net:/srv/qrv',
    );
  return { user: match[1] ?? null, host: match[2]!.replace(/^\[|\]$/g, ''), root: match[3]!.replace(/\/+$/, '') };
}

export function checkSshOption(option: string): string {
  const name = option.split('=')[0]!.toLowerCase();
  if (!OPTION.test(option) || OWN_OPTIONS.has(name))
    throw new QrvError(
      'usage',
      'bad-store',
      OPTION.test(option) ? `qrv sets ${option.split('=')[0]} itself` : `not an ssh option: ${option}`,
      'write ssh options as Key=Value (see man ssh_config); host keys are always checked against known_hosts',
    );
  return option;
}

/** The ssh command line for the sftp subsystem of `location` (an argument array, no shell). */
export function sshArguments(location: StoreLocation): string[] {
  const target = parseSshLocation(location.location);
  const destination = target.user ? `${target.user}@${target.host}` : target.host;
  return [
    ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'],
    ...(location.sshOptions ?? []).flatMap((option) => ['-o', checkSshOption(option)]),
    ...['-o', 'ConnectTimeout=20', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4'],
    ...['-o', 'ClearAllForwardings=yes', '-x', '-a'],
    ...(location.port ? ['-p', String(location.port)] : []),
    ...['-s', '--', destination, 'sftp'],
  ];
}

/** One line for what ssh said when it could not connect (its own words, last line first). */
export function sshFailure(where: string, stderr: string): QrvError {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const said = lines.filter((line) => !line.startsWith('@@@')).pop() ?? 'ssh ended without saying why';
  if (/host key verification failed|host identification has changed|no \S+ host key is known/i.test(stderr))
    return new QrvError(
      'refused',
      'store-host-key',
      `the SSH server of ${where} is not known to be the one it claims (${
        /has changed/i.test(stderr) ? 'its host key changed' : 'its host key is not in known_hosts'
      }): ssh refused it`,
      'check the server key fingerprint with its admin, then add it to known_hosts (connect once with ssh and answer yes)',
    );
  return new QrvError(
    'io',
    'store-unreachable',
    `cannot reach the archive store ${where}: ${said}`,
    'check the host, the port, the key ssh uses and the server (ssh -v with the same options shows the whole exchange)',
  );
}

export async function openSshStore(location: StoreLocation, create = false): Promise<ArchiveStore> {
  const target = parseSshLocation(location.location);
  const conversation = converse('ssh', sshArguments(location));
  const exited = conversation.exited.then(
    (status) => status,
    (error: unknown) => error,
  );
  let client: SftpClient;
  try {
    client = await Promise.race([
      SftpClient.start(conversation),
      exited.then(async (status) => {
        if (status instanceof Error) throw status;
        await conversation.drained;
        throw sshFailure(location.location, conversation.stderr());
      }),
    ]);
  } catch (error) {
    conversation.kill();
    if (!(error instanceof SftpClosedError)) throw error;
    await conversation.drained;
    throw sshFailure(location.location, conversation.stderr());
  }
  void exited.then(() => client.end(new SftpClosedError('ssh ended')));
  const store = new SshStore(location.location, target.root, client, () => conversation.stderr(), conversation.kill);
  try {
    await store.checkRoot(create);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

class SshStore implements ArchiveStore {
  readonly kind = 'ssh' as const;
  private readonly folders = new Set<string>();

  constructor(
    readonly where: string,
    private readonly root: string,
    private readonly client: SftpClient,
    private readonly stderr: () => string,
    private readonly kill: () => void,
  ) {}

  private at(key: string): string {
    if (key === '') return this.root || '.';
    return this.root ? `${this.root}/${key}` : key;
  }

  /** Turns what the protocol said into one line of qrv's. */
  private failure(doing: string, error: unknown): QrvError {
    if (error instanceof QrvError) return error;
    if (error instanceof SftpClosedError) return sshFailure(this.where, this.stderr() || error.message);
    if (error instanceof SftpStatusError) {
      if (error.status === FX.PERMISSION_DENIED) return storeFailed(this.where, doing, 'permission denied');
      return storeFailed(this.where, doing, error.message);
    }
    return storeFailed(this.where, doing, String(error));
  }

  async checkRoot(create: boolean): Promise<void> {
    let attrs;
    try {
      attrs = await this.client.stat(this.at(''));
    } catch (error) {
      if (!(error instanceof SftpStatusError && error.status === FX.NO_SUCH_FILE)) throw this.failure('open', error);
      if (!create)
        throw new QrvError('io', 'store-failed', `the archive store ${this.where} does not exist`, 'make it first');
      await this.makeFolders(this.root);
      attrs = await this.client.stat(this.at('')).catch((e: unknown) => Promise.reject(this.failure('open', e)));
    }
    if (!isDirectory(attrs)) throw unsafe(this.where, 'it is not a folder');
    if ((attrs.permissions ?? 0) & 0o022)
      throw unsafe(this.where, `others on the server can write it (mode ${(attrs.permissions! & 0o7777).toString(8)})`);
  }

  /** mkdir -p of `folder` (a path on the server), one folder at a time (0700); existing ones are fine. */
  private async makeFolders(folder: string): Promise<void> {
    const parts = folder.split('/');
    for (let n = 1; n <= parts.length; n++) {
      const at = parts.slice(0, n).join('/');
      if (!parts[n - 1] || this.folders.has(at)) continue;
      try {
        await this.client.mkdir(at);
      } catch (error) {
        const attrs = await this.client.stat(at).catch(() => null);
        if (!attrs || !isDirectory(attrs)) throw this.failure(`make the folder ${at}`, error);
      }
      this.folders.add(at);
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    checkKey(key);
    const folder = path.posix.dirname(key);
    const temp = `${key}.tmp-${randomBytes(6).toString('hex')}`;
    let handle: Buffer | null = null;
    try {
      if (folder !== '.' && !this.folders.has(this.at(folder))) await this.makeFolders(this.at(folder));
      handle = await this.client.open(this.at(temp), 'create');
      await this.client.writeAll(handle, data);
      await this.client.fsync(handle);
      const closing = handle;
      handle = null;
      await this.client.close(closing);
      await this.client.rename(this.at(temp), this.at(key));
    } catch (error) {
      if (handle) await this.client.close(handle).catch(() => undefined);
      await this.client.remove(this.at(temp)).catch(() => undefined);
      throw await this.writeFailure(key, data.length, error);
    }
  }

  private async writeFailure(key: string, length: number, error: unknown): Promise<QrvError> {
    if (error instanceof SftpStatusError && error.status === FX.FAILURE) {
      const free = await this.client.available(this.at('')).catch(() => null);
      if (free !== null && free < length + 65536) return storeFull(this.where, `${free} bytes free`);
    }
    return this.failure(`write ${key}`, error);
  }

  async get(key: string, limit: number): Promise<Buffer> {
    return this.reading(key, async (handle) => {
      const size = (await this.client.fstat(handle)).size ?? 0;
      if (size > limit) throw tooLarge(this.where, key, limit);
      return this.client.read(handle, 0, size);
    });
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    return this.reading(key, (handle) => this.client.read(handle, offset, length));
  }

  /** Opens the object on the server, reads it with `read`, and closes it. */
  private async reading(key: string, read: (handle: Buffer) => Promise<Buffer>): Promise<Buffer> {
    checkKey(key);
    let handle: Buffer;
    try {
      handle = await this.client.open(this.at(key), 'read');
    } catch (error) {
      if (error instanceof SftpStatusError && error.status === FX.NO_SUCH_FILE) throw objectMissing(this.where, key);
      throw this.failure(`read ${key}`, error);
    }
    try {
      return await read(handle);
    } catch (error) {
      throw this.failure(`read ${key}`, error);
    } finally {
      await this.client.close(handle).catch(() => undefined);
    }
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    try {
      const attrs = await this.client.lstat(this.at(key));
      return (attrs.permissions ?? 0) & 0o100000 ? (attrs.size ?? 0) : null;
    } catch (error) {
      if (error instanceof SftpStatusError && error.status === FX.NO_SUCH_FILE) return null;
      throw this.failure(`look up ${key}`, error);
    }
  }

  async list(folder: string): Promise<StoreObject[]> {
    const found: StoreObject[] = [];
    const walk = async (prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await this.client.readdir(this.at(prefix.replace(/\/$/, '')));
      } catch (error) {
        if (error instanceof SftpStatusError && error.status === FX.NO_SUCH_FILE) return;
        throw this.failure(`list ${prefix || 'the store'}`, error);
      }
      const below: Promise<void>[] = [];
      for (const entry of entries) {
        const key = `${prefix}${entry.name}`;
        if (isDirectory(entry.attrs)) below.push(walk(`${key}/`));
        else if (!entry.name.includes('.tmp-') && (entry.attrs.permissions ?? 0) & 0o100000)
          found.push({ key, size: entry.attrs.size ?? 0 });
      }
      await Promise.all(below);
    };
    await walk(checkFolder(folder));
    return found;
  }

  async remove(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.client.remove(this.at(key));
    } catch (error) {
      if (!(error instanceof SftpStatusError && error.status === FX.NO_SUCH_FILE))
        throw this.failure(`remove ${key}`, error);
    }
  }

  async flush(): Promise<void> {
    // every put fsync'ed its file before the rename (fsync@openssh.com); sftp has no folder fsync
  }

  async close(): Promise<void> {
    this.client.end(new SftpClosedError('closed'));
    this.kill();
  }
}

function unsafe(where: string, why: string): QrvError {
  return new QrvError(
    'refused',
    'store-unsafe',
    `refusing the archive store ${where}: ${why}`,
    'make it a folder on the server that only the account qrv logs in as can write (chmod 700)',
  );
}
