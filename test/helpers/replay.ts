// Checks a copy made while test/helpers/sector-writer.mjs wrote its image: a true point in time
// holds, for some instant P, exactly the last stamp written to each sector at or before P. With
// M the highest stamp in the copy, P can only be M; every sector is checked against the replay.
import fs from 'node:fs/promises';

const SECTOR = 4096;
const A = 40503;

export interface Replay {
  /** the instant the copy holds: its highest stamp */
  point: number;
  /** sectors whose stamp is not the one written last at or before that instant */
  torn: number;
}

export async function replay(copy: string, sectors: number): Promise<Replay> {
  const data = await fs.readFile(copy);
  const stamps = new Uint32Array(sectors);
  let point = 0;
  for (let s = 0; s < sectors; s += 1) {
    const n = data.readUInt32LE(s * SECTOR);
    stamps[s] = n;
    if (n > point) point = n;
  }
  const expected = new Uint32Array(sectors);
  for (let n = 1; n <= point; n += 1) expected[(n * A + 7) % sectors] = n;
  let torn = 0;
  for (let s = 0; s < sectors; s += 1) if (stamps[s] !== expected[s]) torn += 1;
  return { point, torn };
}
