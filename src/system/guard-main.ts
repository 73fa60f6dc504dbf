// The guard processes' entry (dist/qrv-guard.mjs): see guard-process.ts.
import { guardPlan, runGuard } from './guard-process.ts';

const plan = guardPlan(process.env);
if (plan) runGuard(plan);
else {
  process.stderr.write('qrv guard: QRV_GUARD must be "freeze" or "mount"\n');
  process.exitCode = 2;
}
