// How application writers checkpoint before a snapshot (a policy's --checkpoint; issue 15): a
// module of its own, without zod, so that the command line parses --checkpoint without building
// the catalog's schemas.
export const CHECKPOINTS = ['fast', 'spread'] as const;
export type Checkpoint = (typeof CHECKPOINTS)[number];
