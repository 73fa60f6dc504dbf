// A hostile SFTP server for the SSH store's tests, run by sshd as its sftp subsystem
// (startSshd's `subsystem`): it speaks enough of SFTP version 3 to be taken for a server, then
// does what its one argument says:
//   huge-packet  answers the first request with a packet that claims 4 GiB and sends 64 MiB of it
//   long-read    claims every file is 64 bytes and answers a READ with more data than was asked
//   empty-names  answers every READDIR with a list of no names, never with EOF
// Everything else it answers as a server whose root folder is empty and private.
const mode = process.argv[2];
let received = Buffer.alloc(0);

function packet(type, ...parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1);
  head[4] = type;
  process.stdout.write(Buffer.concat([head, body]));
}
const u32 = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const str = (s) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
const status = (id, code) => packet(101, u32(id), u32(code), str(code ? 'no' : 'ok'), str(''));
// SIZE | PERMISSIONS
const attrs = (size, permissions) => Buffer.concat([u32(1 | 4), Buffer.alloc(4), u32(size), u32(permissions)]);

function hugePacket() {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(0xfffffff0);
  head[4] = 105;
  process.stdout.write(head);
  const junk = Buffer.alloc(1024 * 1024, 0x41);
  for (let i = 0; i < 64; i++) process.stdout.write(junk);
}

function answer(type, id, rest) {
  if (mode === 'huge-packet') return hugePacket();
  if (type === 17 || type === 7) return packet(105, u32(id), attrs(0, 0o40700)); // STAT, LSTAT: the root
  if (type === 3) return packet(102, u32(id), str('h1')); // OPEN
  if (type === 8) return packet(105, u32(id), attrs(64, 0o100600)); // FSTAT
  if (type === 5) {
    const asked = rest.readUInt32BE(rest.readUInt32BE(0) + 4 + 8);
    return packet(103, u32(id), str('B'.repeat(asked + 4096))); // READ: more than asked
  }
  if (type === 11) return packet(102, u32(id), str('d1')); // OPENDIR
  if (type === 12 && mode === 'empty-names') return packet(104, u32(id), u32(0)); // READDIR: no names, no end
  if (type === 12) return status(id, 1); // READDIR: EOF, nothing in it
  return status(id, 0);
}

process.stdin.on('data', (data) => {
  received = Buffer.concat([received, data]);
  while (received.length >= 4 && received.length >= 4 + received.readUInt32BE(0)) {
    const length = received.readUInt32BE(0);
    const type = received[4];
    const body = received.subarray(5, 4 + length);
    received = received.subarray(4 + length);
    if (type === 1)
      packet(2, u32(3)); // INIT: VERSION 3, no extensions
    else answer(type, body.readUInt32BE(0), body.subarray(4));
  }
});
