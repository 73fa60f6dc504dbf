// At most one VM per CPU on this machine, across test processes. tap runs three files at a time
// and sorts them by name, so the VM files of a folder (providers/dm, providers/lvm) start
// together: three emulated VMs on two CPUs took 19 % more CPU than the same three in a row
// (437 s against 368 s, measured on the dm files), time the host tests beside them lose too.
// A slot is flock(2) on /tmp/qrv-vm-slot-N, held by an open descriptor of this process (as the
// catalog's lock: src/system/flock.ts): the kernel frees it when the process ends, however it
// ends, so a dead test never keeps a slot.
import { constants } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { flockExclusive } from '../../src/system/flock.ts';

/** While all slots are taken, wait this long on each in turn (taken at once when it frees). */
const WAIT_EACH_S = 5;

/** How many VMs may run at once: QRV_VM_SLOTS, or the machine's CPUs. */
export function vmSlots(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.QRV_VM_SLOTS;
  if (text === undefined || text === '') return Math.max(1, os.availableParallelism());
  if (!/^[1-9]\d{0,2}$/.test(text))
    throw new Error(`QRV_VM_SLOTS=${JSON.stringify(text)} is not a number from 1 to 999`);
  return Number(text);
}

export interface VmSlot {
  /** Time spent waiting for a free slot. */
  waitedSeconds: number;
  release: () => Promise<void>;
}

/** Takes a free slot; while all are taken, waits on each in turn. */
export async function takeVmSlot(slots = vmSlots()): Promise<VmSlot> {
  const started = performance.now();
  for (let round = 0; ; round++) {
    for (let slot = 0; slot < slots; slot++) {
      const handle = await lockSlot(path.join(os.tmpdir(), `qrv-vm-slot-${slot}`), round ? WAIT_EACH_S : 0);
      if (handle) return { waitedSeconds: (performance.now() - started) / 1000, release: () => handle.close() };
    }
  }
}

/** The slot file's descriptor, locked, or null when another process holds it for waitS more seconds. */
async function lockSlot(file: string, waitS: number): Promise<fsp.FileHandle | null> {
  const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  let locked = false;
  try {
    locked = await flockExclusive(handle, waitS * 1000);
    return locked ? handle : null;
  } finally {
    if (!locked) await handle.close();
  }
}
