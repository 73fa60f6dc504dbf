// A small SFTP (version 3) client over the standard streams of `ssh -s HOST sftp`, the way
// restic's sftp backend works: the admin's own OpenSSH client makes the connection (their
// ~/.ssh/config, keys, agent and known_hosts), and qrv speaks the file protocol itself, so no
// shell command is ever built on the far side and an sftp-only account (internal-sftp, chroot)
// is enough. Requests are pipelined: every request carries an id and replies come in any order.
// The protocol: draft-ietf-secsh-filexfer-02, with OpenSSH's extensions posix-rename, fsync,
// statvfs and limits (OpenSSH's PROTOCOL file).
import { allSettledOrThrow } from '../core/settle.ts';
import type { Conversation } from '../system/tools.ts';
import {
  T,
  FX,
  FXF,
  MAX_PACKET,
  MAX_LISTED,
  type Attrs,
  type DirEntry,
  SftpStatusError,
  SftpClosedError,
  Writer,
  Reader,
  type Reply,
  expect,
} from './sftp-packets.ts';

export { FX, SftpClosedError, SftpStatusError, isDirectory, type Attrs, type DirEntry } from './sftp-packets.ts';

export class SftpClient {
  private pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private received: Buffer = Buffer.alloc(0);
  private ended: Error | null = null;
  private onVersion: ((reply: Reply) => void) | null = null;
  readonly extensions = new Map<string, string>();
  /** the largest WRITE and READ the server takes (limits@openssh.com), 32 KiB where it does not say */
  writeLength = 32768;
  readLength = 32768;

  private constructor(private readonly conversation: Conversation) {}

  /** Starts the protocol on a running `ssh -s … sftp`; rejects with SftpClosedError when it ends first. */
  static async start(conversation: Conversation): Promise<SftpClient> {
    const client = new SftpClient(conversation);
    conversation.stdout.on('data', (data: Buffer) => client.receive(data));
    conversation.stdout.on('end', () => client.end(new SftpClosedError('the connection closed')));
    conversation.stdin.on('error', () => client.end(new SftpClosedError('the connection closed')));
    const version = new Promise<Reply>((resolve, reject) => {
      client.onVersion = resolve;
      client.pending.set(0, { resolve, reject });
    });
    conversation.stdin.write(new Writer().u32(3).packet(T.INIT));
    const reply = await version;
    client.pending.delete(0);
    if (reply.type !== T.VERSION) throw new SftpClosedError(`the server answered ${reply.type} to INIT`);
    reply.body.u32();
    try {
      for (;;) client.extensions.set(reply.body.str(), reply.body.str());
    } catch {
      // the list of extensions ended
    }
    if (client.extensions.has('limits@openssh.com')) await client.readLimits();
    return client;
  }

  private async readLimits(): Promise<void> {
    const reply = await this.extended('limits@openssh.com', new Writer());
    reply.u64(); // max packet length
    const read = reply.u64();
    const write = reply.u64();
    if (read > 0) this.readLength = Math.min(read, 255 * 1024);
    if (write > 0) this.writeLength = Math.min(write, 255 * 1024);
  }

  private receive(data: Buffer): void {
    if (this.ended) return;
    this.received = this.received.length ? Buffer.concat([this.received, data]) : data;
    while (this.received.length >= 4) {
      const length = this.received.readUInt32BE(0);
      if (length > MAX_PACKET) return this.refuse(`a packet of ${length} bytes (at most ${MAX_PACKET} are taken)`);
      if (this.received.length < 4 + length) return;
      const packet = this.received.subarray(4, 4 + length);
      this.received = this.received.subarray(4 + length);
      const type = packet[0] ?? 0;
      if (type !== T.VERSION && packet.length < 5) return this.refuse(`a packet of ${length} bytes, too short`);
      if (type === T.VERSION) {
        this.onVersion?.({ type, body: new Reader(packet.subarray(1)) });
        continue;
      }
      const id = packet.readUInt32BE(1);
      const waiter = this.pending.get(id);
      this.pending.delete(id);
      waiter?.resolve({ type, body: new Reader(packet.subarray(5)) });
    }
  }

  /** Ends the connection over a packet no server should send: what follows it cannot be trusted. */
  private refuse(what: string): void {
    this.received = Buffer.alloc(0);
    this.end(new SftpClosedError(`the server sent ${what}`));
  }

  /** Fails every request in flight and every later one with `error`. */
  end(error: Error): void {
    if (this.ended) return;
    this.ended = error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  get closedBecause(): Error | null {
    return this.ended;
  }

  private request(type: number, body: Writer): Promise<Reply> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    const whole = new Writer().u32(id).raw(body.bytes()).packet(type);
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.conversation.stdin.write(whole);
    });
  }

  /** A request answered by STATUS OK, or rejected with its status. */
  private async status(type: number, body: Writer, what: string): Promise<void> {
    const reply = await this.request(type, body);
    expect(reply, T.STATUS, what);
  }

  private async extended(name: string, body: Writer): Promise<Reader> {
    const reply = await this.request(T.EXTENDED, new Writer().str(name).raw(body.bytes()));
    if (reply.type === T.STATUS) expect(reply, T.EXTENDED_REPLY, name);
    return reply.body;
  }

  async open(file: string, mode: 'read' | 'create', permissions = 0o600): Promise<Buffer> {
    const flags = mode === 'read' ? FXF.READ : FXF.WRITE | FXF.CREAT | FXF.EXCL;
    const reply = await this.request(T.OPEN, new Writer().str(file).u32(flags).attrs({ permissions }));
    return expect(reply, T.HANDLE, `open ${file}`).bytes();
  }

  close(handle: Buffer): Promise<void> {
    return this.status(T.CLOSE, new Writer().str(handle), 'close');
  }

  /** Writes `data` at 0, in pieces the server takes, all sent before the first reply is awaited. */
  async writeAll(handle: Buffer, data: Uint8Array): Promise<void> {
    const writes: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += this.writeLength) {
      const piece = data.subarray(at, at + this.writeLength);
      writes.push(this.status(T.WRITE, new Writer().str(handle).u64(at).str(piece), 'write'));
    }
    await allSettledOrThrow(writes);
  }

  /** Reads `size` bytes from 0, pipelined; a short reply is completed by more reads. */
  /** `length` bytes from `offset`, read in pipelined pieces; fewer when the file ends first. */
  async read(handle: Buffer, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let end = length;
    const readAt = async (at: number, count: number): Promise<void> => {
      while (count > 0 && at < end) {
        const reply = await this.request(
          T.READ,
          new Writer()
            .str(handle)
            .u64(offset + at)
            .u32(count),
        );
        if (reply.type === T.STATUS && reply.body.peekStatus() === FX.EOF) {
          end = Math.min(end, at);
          return;
        }
        if (reply.type === T.STATUS) expect(reply, T.DATA, 'read');
        const data = reply.body.bytes();
        if (data.length > count) throw new SftpClosedError(`read: the server sent ${data.length} bytes for ${count}`);
        if (data.length === 0) {
          end = Math.min(end, at);
          return;
        }
        data.copy(out, at);
        at += data.length;
        count -= data.length;
      }
    };
    const reads: Promise<void>[] = [];
    for (let at = 0; at < length; at += this.readLength) reads.push(readAt(at, Math.min(this.readLength, length - at)));
    await allSettledOrThrow(reads);
    return out.subarray(0, end);
  }

  async fstat(handle: Buffer): Promise<Attrs> {
    return expect(await this.request(T.FSTAT, new Writer().str(handle)), T.ATTRS, 'fstat').attrs();
  }

  async stat(file: string): Promise<Attrs> {
    return expect(await this.request(T.STAT, new Writer().str(file)), T.ATTRS, `stat ${file}`).attrs();
  }

  async lstat(file: string): Promise<Attrs> {
    return expect(await this.request(T.LSTAT, new Writer().str(file)), T.ATTRS, `lstat ${file}`).attrs();
  }

  /** Makes the file durable on the server (fsync@openssh.com); a server without it is not asked. */
  async fsync(handle: Buffer): Promise<void> {
    if (!this.extensions.has('fsync@openssh.com')) return;
    const reply = await this.request(T.EXTENDED, new Writer().str('fsync@openssh.com').str(handle));
    expect(reply, T.STATUS, 'fsync');
  }

  /** Renames over an existing file atomically (posix-rename@openssh.com), else remove + rename. */
  async rename(from: string, to: string): Promise<void> {
    if (this.extensions.has('posix-rename@openssh.com')) {
      const body = new Writer().str('posix-rename@openssh.com').str(from).str(to);
      expect(await this.request(T.EXTENDED, body), T.STATUS, `rename ${from}`);
      return;
    }
    await this.remove(to).catch(() => undefined);
    return this.status(T.RENAME, new Writer().str(from).str(to), `rename ${from}`);
  }

  remove(file: string): Promise<void> {
    return this.status(T.REMOVE, new Writer().str(file), `remove ${file}`);
  }

  mkdir(folder: string, permissions = 0o700): Promise<void> {
    return this.status(T.MKDIR, new Writer().str(folder).attrs({ permissions }), `mkdir ${folder}`);
  }

  /** Bytes free for an unprivileged user on the filesystem of `file` (statvfs@openssh.com), or null. */
  async available(file: string): Promise<number | null> {
    if (!this.extensions.has('statvfs@openssh.com')) return null;
    const reply = await this.extended('statvfs@openssh.com', new Writer().str(file));
    reply.u64(); // f_bsize
    const frsize = reply.u64();
    reply.u64(); // f_blocks
    reply.u64(); // f_bfree
    return reply.u64() * frsize;
  }

  async readdir(folder: string): Promise<DirEntry[]> {
    const handle = expect(await this.request(T.OPENDIR, new Writer().str(folder)), T.HANDLE, `list ${folder}`).bytes();
    const entries: DirEntry[] = [];
    try {
      for (;;) {
        const reply = await this.request(T.READDIR, new Writer().str(handle));
        if (reply.type === T.STATUS) {
          const code = reply.body.u32();
          if (code === FX.EOF) break;
          throw new SftpStatusError(code, `list ${folder}: ${reply.body.str() || `status ${code}`}`);
        }
        const body = expect(reply, T.NAME, `list ${folder}`);
        const count = body.u32();
        // a server that answers without entries and never says EOF would have qrv ask for ever
        if (count === 0 || entries.length + count > MAX_LISTED)
          throw new SftpClosedError(
            `list ${folder}: the server lists ${count ? 'more than ' + MAX_LISTED : 'nothing'} without an end`,
          );
        for (let n = count; n > 0; n--) {
          const name = body.str();
          body.str(); // the long name, ls -l style
          entries.push({ name, attrs: body.attrs() });
        }
      }
    } finally {
      await this.close(handle).catch(() => undefined);
    }
    return entries.filter((entry) => entry.name !== '.' && entry.name !== '..');
  }
}
