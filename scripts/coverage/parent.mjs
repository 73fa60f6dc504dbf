// Loaded into each test process by tap (package.json tap.node-arg). When tap measures coverage
// it records what runs in the test process itself; qrv as shipped runs in the processes a test
// starts (bin/qrv -> dist/qrv.mjs). This gives those processes scripts/coverage/child.cjs and a
// folder of their own, and at exit merges what they wrote into one file per test process in
// .tap/child-coverage/ (a bundle's coverage is ~0.6 MB per process, and a test starts hundreds),
// which scripts/coverage/report.mjs adds to tap's.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** @bcoe/v8-coverage's merge of V8 process coverages (c8's own dependency). */
export function mergeProcessCovs(processCovs) {
  return createRequire(import.meta.url)('@bcoe/v8-coverage').mergeProcessCovs(processCovs);
}

/** Merges the V8 coverage files in `folder` into `target` (and removes them). */
export function mergeFolder(folder, target) {
  if (!existsSync(folder)) return;
  let merged;
  for (const name of readdirSync(folder)) {
    let next;
    try {
      next = JSON.parse(readFileSync(path.join(folder, name), 'utf8'));
    } catch {
      continue; // cut short by a kill: nothing to learn from it
    }
    merged = merged ? mergeProcessCovs([merged, next]) : next;
  }
  if (merged) writeFileSync(target, JSON.stringify(merged));
  rmSync(folder, { recursive: true, force: true });
}

// tap sets this to '1' in a test process whose coverage it records (processinfo's --import runs first).
if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1') {
  const folder = path.join(root, '.tap', 'child-coverage', String(process.pid));
  process.env.QRV_CHILD_COVERAGE = folder;
  process.env.NODE_OPTIONS =
    `${process.env.NODE_OPTIONS ?? ''} --require=${path.join(root, 'scripts', 'coverage', 'child.cjs')}`.trim();
  // One V8 isolate has one precise-coverage count, and taking it resets it: in the children
  // child.cjs takes it, so processinfo's own recording is turned off there.
  process.env._TAPJS_PROCESSINFO_COVERAGE_ = '0';
  process.on('exit', () => mergeFolder(folder, `${folder}.json`));
}

// tap's processinfo adds itself to NODE_OPTIONS of every process a test starts (through
// process-on-spawn). On Node 20 it registers its module hooks off-thread, which starts a loader
// thread in each child: `qrv --version` took 0.87 s started from a test, 0.26 s without it, and
// the tests start qrv thousands of times (and qrv its guard). What it records there (which files a
// child loaded, for `tap --changed`) is not used here, and the children's coverage is child.cjs's
// (above), so it is taken out again. Listeners run in the order they were added: this one after
// processinfo's.
{
  let onSpawn = null;
  try {
    onSpawn = createRequire(import.meta.url)('process-on-spawn'); // tap's own dependency
  } catch {
    // another tap that does not use it: nothing to take out
  }
  onSpawn?.addListener((child) => {
    const options = child.env.NODE_OPTIONS;
    if (typeof options !== 'string' || !options.includes('@tapjs/processinfo')) return;
    const kept = options.match(/"[^"]*"|\S+/g).filter((arg) => !arg.includes('@tapjs/processinfo'));
    child.env = { ...child.env, NODE_OPTIONS: kept.join(' ') };
  });
}
