// Catalog rows with every field filled and the interesting ones given (the `qrv check` tests, the engine phases).
import type {
  ArchiveRow,
  Job,
  Policy,
  Pool,
  PoolMember,
  Qrv,
  Snapshot,
  Subclient,
  Volume,
} from '../../src/catalog/schema.ts';
import { newPolicyRow } from '../../src/services/policies.ts';

export const EPOCH = new Date(0).toISOString();

export function volumeRow(name: string, over: Partial<Volume> = {}): Volume {
  return {
    name,
    provider: 'file',
    path: `/srv/${name}.img`,
    options: {},
    sizeBytes: 1 << 20,
    addedAt: EPOCH,
    policy: null,
    discovered: false,
    ...over,
  };
}

let serial = 0;
const nextId = (prefix: string) => `${prefix}-${(++serial).toString(16).padStart(8, '0')}`;

export function snapshotRow(volume: string, createdAt: string, over: Partial<Snapshot> = {}): Snapshot {
  const id = over.id ?? nextId('s');
  return {
    id,
    volume,
    subclient: null,
    provider: 'file',
    handle: `/srv/.snap/${id}.img`,
    path: `/srv/.snap/${id}.img`,
    createdAt,
    persistUntil: null,
    label: null,
    pinned: false,
    state: 'ready',
    sizeBytes: 1 << 20,
    groupId: 'g-00000000',
    method: 'sparse-copy',
    quiesce: 'none',
    consistency: 'atomic',
    copyRate: null,
    suspendedMs: 1,
    objects: [],
    jobId: 'j-00000000',
    removedAt: null,
    policy: null,
    copiedTo: null,
    ...over,
  };
}

export function qrvRow(volume: string, updatedAt: string, over: Partial<Qrv> = {}): Qrv {
  return {
    id: over.id ?? nextId('q'),
    volume,
    snapshotId: 's-00000000',
    destination: `/replicas/${volume}.qrv.img`,
    destinationKind: 'file',
    state: 'ready',
    sizeBytes: 1 << 20,
    blockSize: 65536,
    checksum: 'xxh64:0000000000000000',
    ledger: null,
    createdAt: EPOCH,
    updatedAt,
    history: [],
    pool: null,
    lastVerify: null,
    ...over,
  };
}

export function jobRow(
  kind: Job['kind'],
  volume: string,
  state: Job['state'],
  startedAt: string,
  endedAt: string | null,
  over: Partial<Job> = {},
): Job {
  return {
    id: over.id ?? nextId('j'),
    kind,
    volume,
    state,
    pid: 1,
    host: 'test',
    startedAt,
    endedAt,
    snapshotId: null,
    qrvId: null,
    destination: null,
    steps: [],
    warnings: [],
    progress: null,
    resumes: null,
    error:
      state === 'failed'
        ? { code: 'write-failed', message: 'cannot write /replicas/x: no space left on device' }
        : null,
    ...over,
  };
}

export function policyRow(name: string, schedule: string | null, over: Partial<Policy> = {}): Policy {
  return { ...newPolicyRow(name, EPOCH), schedule, ...over };
}

export function subclientRow(name: string, volumes: string[], policy: string | null, createdAt = EPOCH): Subclient {
  return { name, volumes, policy, createdAt };
}

/** A member of this capacity, reserved by a QRV when `qrvId` is given. */
export function memberRow(path: string, capacityBytes: number, qrvId: string | null = null): PoolMember {
  return {
    path,
    kind: 'file',
    capacityBytes,
    capacityFrom: 'given',
    qrvId,
    volume: qrvId ? 'v' : null,
    addedAt: EPOCH,
  };
}

export function poolRow(name: string, members: PoolMember[]): Pool {
  return { name, members, createdAt: EPOCH };
}

/** A ready archive generation of `volume` in the store "vault", sent from s-00000001. */
export function archiveRow(volume: string, pointInTime: string, over: Partial<ArchiveRow> = {}): ArchiveRow {
  return {
    id: 'a-000000000001',
    volume,
    store: 'vault',
    sourceId: 's-00000001',
    snapshotId: 's-00000001',
    pointInTime,
    consistency: 'atomic',
    state: 'ready',
    sizeBytes: 1,
    chunkSize: 65536,
    chunks: 1,
    keyFile: null,
    checksum: null,
    bytesRead: 0,
    bytesSent: 0,
    bytesDeduplicated: 0,
    bytesZero: 0,
    seconds: 0,
    createdAt: pointInTime,
    finishedAt: pointInTime,
    removedAt: null,
    jobId: 'j-00000009',
    lastVerify: null,
    ...over,
  };
}
