// The guard processes' entry (dist/qrv-guard.mjs): see guard-process.ts.
import { guardMain } from './guard-process.ts';

guardMain(process.env);
