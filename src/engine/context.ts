// What every service gets: the catalog, the reporter its events go to, and a clock (tests
// inject one).
import type { Catalog } from '../catalog/store.ts';
import type { Reporter } from '../core/events.ts';

export interface Context {
  catalog: Catalog;
  reporter: Reporter;
  now: () => Date;
}
