// One freeze window for a consistency group (F1): the volumes of a sub-client are snapshotted
// while all of them are at rest. Each member's snapshot phase runs its pre-snapshot hook, then
// joins with the filesystems it needs frozen (perhaps none); when every member has joined, all of
// them are frozen at once under one guard; each member takes its snapshot and says so (thaw());
// when the last one has, everything is thawed and every member goes on to index and its
// post-snapshot hook. A member that fails before it joins aborts the group: the others stop
// waiting and fail with its error, and nothing is frozen. Application writers (F13) are brought
// to rest when every member has joined, just before the freeze.
import { freezeWithGuard, guardDeadlineMs, type Freeze } from '../system/freeze.ts';

interface Waiting {
  mountpoints: string[];
  /** this member's --max-freeze; the group is held for the shortest */
  limitMs: number;
  resolve: (freeze: Freeze) => void;
  reject: (error: unknown) => void;
}

export class GroupFreeze {
  private waiting: Waiting[] = [];
  private joinedCount = 0;
  private aborted: unknown = null;

  /** `beforeFreeze` runs once every member has joined, before anything is frozen (application writers brought to rest); its failure fails every member. */
  constructor(
    private readonly size: number,
    private readonly beforeFreeze?: () => Promise<void>,
  ) {}

  /** Waits until every member has joined and the group is frozen; the handle's thaw() marks this member done. */
  join(mountpoints: string[], limitMs = guardDeadlineMs()): Promise<Freeze> {
    if (this.aborted !== null) return Promise.reject(this.aborted);
    return new Promise<Freeze>((resolve, reject) => {
      this.waiting.push({ mountpoints, limitMs, resolve, reject });
      this.joinedCount += 1;
      if (this.joinedCount === this.size) void this.freezeAll();
    });
  }

  /** A member failed before joining: nobody waits any more. Too late once all have joined. */
  abort(error: unknown): void {
    if (this.aborted !== null || this.joinedCount === this.size) return;
    this.aborted = error;
    for (const member of this.waiting.splice(0)) member.reject(error);
  }

  private async freezeAll(): Promise<void> {
    const members = this.waiting.splice(0);
    const points = [...new Set(members.flatMap((m) => m.mountpoints))];
    const limitMs = Math.min(...members.map((m) => m.limitMs));
    let freeze: Freeze;
    try {
      await this.beforeFreeze?.();
      freeze = points.length
        ? await freezeWithGuard(points, limitMs)
        : {
            mountpoints: [],
            alreadyFrozen: [],
            since: process.hrtime.bigint(),
            limitMs,
            held: () => true,
            thaw: async () => undefined,
          };
    } catch (error) {
      for (const member of members) member.reject(error);
      return;
    }
    let left = members.length;
    let thawNow: () => void = () => undefined;
    const thawed = new Promise<void>((resolve, reject) => {
      thawNow = () => freeze.thaw().then(resolve, reject);
    });
    thawed.catch(() => undefined);
    for (const member of members) {
      let done = false;
      member.resolve({
        mountpoints: freeze.mountpoints.filter((p) => member.mountpoints.includes(p)),
        alreadyFrozen: freeze.alreadyFrozen.filter((p) => member.mountpoints.includes(p)),
        since: freeze.since,
        limitMs: freeze.limitMs,
        held: () => freeze.held(),
        thaw: () => {
          if (!done) {
            done = true;
            left -= 1;
            if (left === 0) thawNow();
          }
          return thawed;
        },
      });
    }
  }
}
