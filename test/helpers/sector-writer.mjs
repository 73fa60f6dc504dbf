// A writer for the torn-copy tests (issue 18), run as its own process: `node sector-writer.mjs
// IMAGE SECTORS [MODE]`. It writes 4 KiB sectors of IMAGE in a fixed, replayable order — write
// number n (from 1) goes to sector sectorOf(n, SECTORS) — and stamps each with n, so a copy of the
// image can be checked against every instant of the sequence (replay.ts). MODE `hold` (default)
// keeps the image open for writing the whole time; `reopen` opens, writes a few sectors and
// closes it again, pausing between, so that it is rarely open when looked at. It prints "ready"
// once the first write is done and runs until killed.
import fs from 'node:fs';

const [image, sectorsArg, mode = 'hold'] = process.argv.slice(2);
const sectors = Number(sectorsArg);
const SECTOR = 4096;
const A = 40503; // odd, so n -> (n * A) mod 2^k visits every sector of a power-of-two count
const sectorOf = (n) => (n * A + 7) % sectors;
const buffer = Buffer.alloc(SECTOR);

function stamp(n) {
  buffer.writeUInt32LE(n, 0);
  buffer.writeUInt32LE(sectorOf(n), 4);
  buffer.fill(n & 0xff, 8);
}

let n = 0;
if (mode === 'hold') {
  const fd = fs.openSync(image, 'r+');
  const batch = () => {
    for (let i = 0; i < 64; i += 1) {
      n += 1;
      stamp(n);
      fs.writeSync(fd, buffer, 0, SECTOR, sectorOf(n) * SECTOR);
    }
    if (n === 64) process.stdout.write('ready\n');
    setTimeout(batch, 1); // busy, but leaving the CPU to others now and then
  };
  batch();
} else {
  const burst = () => {
    const fd = fs.openSync(image, 'r+');
    for (let i = 0; i < 16; i += 1) {
      n += 1;
      stamp(n);
      fs.writeSync(fd, buffer, 0, SECTOR, sectorOf(n) * SECTOR);
    }
    fs.closeSync(fd);
    if (n === 16) process.stdout.write('ready\n');
    setTimeout(burst, 50);
  };
  burst();
}
