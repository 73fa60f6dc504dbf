// The browser's side of the world: the catalog, the services it calls, and the one reader it
// keeps open. A copy's reader (a debugfs reader, or a read-only mount as root) is opened when the
// browser enters the copy and closed when it leaves it, before a recovery (which opens its own),
// and on quit, a signal or an error (run.tsx calls close() in a finally). The reader is held
// inside withReader(), so its close-in-finally and the mount guard apply unchanged.
import type { Catalog } from '../../catalog/store.ts';
import type { CatalogData } from '../../catalog/schema.ts';
import { Reporter, type QrvEvent } from '../../core/events.ts';
import type { Context } from '../../engine/context.ts';
import type { Summary } from '../../output/printer.ts';
import { withReader, type Via } from '../../browse/open.ts';
import type { FilesystemReader, Located } from '../../browse/types.ts';
import { browseSource, readablePath } from '../../services/browse.ts';
import { setProperties } from '../../services/inspect.ts';
import { recoverFiles } from '../../services/recover-files.ts';
import { unsnap } from '../../services/unsnap.ts';

interface Held {
  id: string;
  reader: FilesystemReader;
  /** lets go of the reader; resolves once it is closed (unmounted), rejects if closing failed */
  release: () => Promise<void>;
}

export interface SessionOptions {
  catalog: Catalog;
  now?: () => Date;
  via?: Via;
}

export class BrowseSession {
  readonly catalog: Catalog;
  readonly now: () => Date;
  readonly via: Via | undefined;
  private held: Held | null = null;
  /** every reader operation runs after the previous one, so close() waits for an open in flight */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: SessionOptions) {
    this.catalog = options.catalog;
    this.now = options.now ?? (() => new Date());
    this.via = options.via;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private context(reporter = new Reporter()): Context {
    return { catalog: this.catalog, reporter, now: this.now };
  }

  read(): Promise<CatalogData> {
    return this.catalog.read();
  }

  /** The id of the copy whose reader is open, if any. */
  get openCopy(): string | null {
    return this.held?.id ?? null;
  }

  /** The method the open reader reads with ("debugfs" or "mount"). */
  get method(): string | null {
    return this.held?.reader.method ?? null;
  }

  /** Opens the reader of a snapshot or QRV (closing another one first); nothing when it is open already. */
  enter(id: string): Promise<void> {
    return this.serial(async () => {
      if (this.closed) throw new Error('the browser is closing');
      if (this.held?.id === id) return;
      await this.letGo();
      const source = browseSource(
        await this.catalog.read(),
        { id, ...(this.via ? { via: this.via } : {}) },
        this.now(),
      );
      this.held = await holdReader(id, await readablePath(this.context(), source), this.via);
    });
  }

  private async letGo(): Promise<void> {
    const held = this.held;
    this.held = null;
    if (held) await held.release();
  }

  /** Closes the open reader (unmounts). */
  leave(): Promise<void> {
    return this.serial(() => this.letGo());
  }

  private reader(id: string): FilesystemReader {
    if (this.held?.id !== id) throw new Error(`${id} is not open`);
    return this.held.reader;
  }

  list(id: string, path: string): Promise<Located[]> {
    return this.serial(() => this.reader(id).list(path));
  }

  stat(id: string, path: string): Promise<Located> {
    return this.serial(() => this.reader(id).stat(path));
  }

  /**
   * `r`: restores `path` of copy `id` into the mounted volume (`to` empty) or under the folder `to`,
   * through the file-level recovery service. It opens the copy itself, so the browser's reader is
   * closed first (a mounted copy is never mounted twice) and opened again afterwards.
   */
  recover(
    request: { volume: string; id: string; path: string; to: string | undefined },
    onEvent: (event: QrvEvent) => void,
  ): Promise<Summary> {
    return this.serial(async () => {
      const reopen = this.held?.id === request.id;
      await this.letGo();
      const reporter = new Reporter();
      reporter.subscribe(onEvent);
      try {
        return await recoverFiles(this.context(reporter), {
          volume: request.volume,
          sources: [{ from: request.id, paths: [request.path] }],
          ...(request.to ? { to: request.to } : {}),
          force: false,
          ...(this.via ? { via: this.via } : {}),
        });
      } finally {
        if (reopen && !this.closed) {
          // Not opened again (the copy may be gone): the next listing says why, in the status line.
          try {
            const source = browseSource(
              await this.catalog.read(),
              { id: request.id, ...(this.via ? { via: this.via } : {}) },
              this.now(),
            );
            this.held = await holdReader(request.id, await readablePath(this.context(reporter), source), this.via);
          } catch {
            this.held = null;
          }
        }
      }
    });
  }

  /** `p`: the persistence of a snapshot, as `qrv set ID --persist WHEN` changes it. */
  setPersistence(snapshotId: string, persist: string): Promise<Summary> {
    return setProperties(this.context(), { snapshotId, persist });
  }

  /** `d`: removes a snapshot, as `qrv unsnap ID` does (pinned ones are refused). */
  deleteSnapshot(snapshotId: string): Promise<Summary> {
    return this.serial(async () => {
      if (this.held?.id === snapshotId) await this.letGo();
      return unsnap(this.context(), { snapshotId, force: false });
    });
  }

  /** Closes the reader for good; safe to call more than once. */
  close(): Promise<void> {
    this.closed = true;
    return this.serial(() => this.letGo());
  }
}

/** Opens a reader inside withReader and keeps it open until release() (which closes it). */
function holdReader(id: string, path: string, via: Via | undefined): Promise<Held> {
  return new Promise<Held>((resolve, reject) => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((done) => (release = done));
    let opened = false;
    const done = withReader(path, { label: id, ...(via ? { via } : {}) }, async (reader) => {
      opened = true;
      resolve({
        id,
        reader,
        release: async () => {
          release();
          await done;
        },
      });
      await released;
    });
    done.catch((error: unknown) => {
      if (!opened) reject(error);
    });
  });
}
