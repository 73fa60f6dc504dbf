// The SFTP (version 3) wire format qrv speaks (draft-ietf-secsh-filexfer-02): packet types,
// status codes, flags and attributes, and the writer and reader of packet bodies. The client
// (sftp-client.ts) sends and receives through them.
export const T = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  STAT: 17,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export const FX = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, OP_UNSUPPORTED: 8 } as const;
export const FXF = { READ: 1, WRITE: 2, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;
export const ATTR = { SIZE: 1, UIDGID: 2, PERMISSIONS: 4, ACMODTIME: 8, EXTENDED: 0x80000000 } as const;
export const S_IFMT = 0o170000;
/**
 * The longest packet taken from a server, OpenSSH's own limit (SFTP_MAX_MSG_LENGTH): qrv's reads
 * ask for at most 255 KiB, and a server that claims more (up to 4 GiB) would have qrv hold all
 * it sends while it waits for the packet's end.
 */
export const MAX_PACKET = 256 * 1024;
/** The most entries a folder's listing may have (a store of 16 MiB packs: 256 TiB in one folder). */
export const MAX_LISTED = 16 * 1024 * 1024;

export interface Attrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
}

export interface DirEntry {
  name: string;
  attrs: Attrs;
}

/** A reply with a status other than OK (or an EOF where data was expected). */
export class SftpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The connection ended (ssh exited, or the far side closed the channel). */
export class SftpClosedError extends Error {}

export class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.of(v));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  u64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(v: string | Uint8Array): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    return this.u32(b.length).raw(b);
  }
  raw(b: Uint8Array): this {
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }
  attrs(a: Attrs): this {
    if (a.permissions === undefined) return this.u32(0);
    return this.u32(ATTR.PERMISSIONS).u32(a.permissions);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
  packet(type: number): Buffer {
    const body = this.bytes();
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length + 1);
    head.writeUInt8(type, 4);
    return Buffer.concat([head, body]);
  }
}

export class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  /** The status code of a STATUS reply, without consuming it. */
  peekStatus(): number {
    return this.b.readUInt32BE(this.at);
  }
  u32(): number {
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    const v = this.b.readBigUInt64BE(this.at);
    this.at += 8;
    return Number(v);
  }
  bytes(): Buffer {
    const n = this.u32();
    const v = this.b.subarray(this.at, this.at + n);
    if (v.length !== n) throw new SftpClosedError('a truncated reply');
    this.at += n;
    return v;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  attrs(): Attrs {
    const flags = this.u32();
    const a: Attrs = {};
    if (flags & ATTR.SIZE) a.size = this.u64();
    if (flags & ATTR.UIDGID) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) a.permissions = this.u32();
    if (flags & ATTR.ACMODTIME) this.at += 8;
    if (flags & ATTR.EXTENDED) for (let n = this.u32(); n > 0; n--) this.bytes() && this.bytes();
    return a;
  }
}

export interface Reply {
  type: number;
  body: Reader;
}

export function isDirectory(attrs: Attrs): boolean {
  return attrs.permissions !== undefined && (attrs.permissions & S_IFMT) === 0o040000;
}

/** The reply's body when it is of type `want`; a STATUS is OK (for want STATUS) or an error. */
export function expect(reply: Reply, want: number, what: string): Reader {
  if (reply.type === want && want !== T.STATUS) return reply.body;
  if (reply.type === T.STATUS) {
    const code = reply.body.u32();
    const message = reply.body.str();
    if (code === FX.OK && want === T.STATUS) return reply.body;
    throw new SftpStatusError(code, `${what}: ${message || `status ${code}`}`);
  }
  throw new SftpClosedError(`${what}: an unexpected reply (${reply.type})`);
}
