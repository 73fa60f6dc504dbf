// Loaded (NODE_OPTIONS --require) into every process a test starts while tap measures coverage:
// records V8's precise coverage of the shipped bundle and writes it, at exit, into the folder the
// test process named in QRV_CHILD_COVERAGE. Only the bundle's scripts are kept: dist/*.mjs that
// bin/qrv runs, and dist/qrv.cjs inside the single executable (V8 names it by the path it was
// built at, scripts/package.mjs). Their source maps lead back to src/ in the report. A process
// that cannot write there (a test running qrv as nobody) records nothing rather than fail.
// Other programs a test runs with node (tsx scripts, `node -e`) load no bundle and are not
// measured: precise coverage only slows them (in the emulated VM, `node -e 0` took 1.0-1.25 s with
// it, 0.65-0.9 s without).
// CommonJS, because the single executable loads only that (--import does nothing there).
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');
const path = require('node:path');

const folder = process.env.QRV_CHILD_COVERAGE;
const BUNDLE = /^file:\/\/.*\/dist\/qrv[^/]*\.(mjs|cjs)$/;

/** qrv itself: bin/qrv, a dist/qrv*.{mjs,cjs} bundle or the guard, or the single executable. */
function isQrv() {
  if (/(?:^|\/)(?:bin|dist)\/qrv[^/]*$/.test(process.argv[1] ?? '')) return true;
  try {
    return require('node:sea').isSea();
  } catch {
    return false;
  }
}

if (folder && isQrv()) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  process.on('exit', () => {
    // A session on this thread answers synchronously, so this runs before the process ends.
    session.post('Profiler.takePreciseCoverage', (error, coverage) => {
      if (error) return;
      const result = coverage.result.filter((script) => BUNDLE.test(script.url));
      if (result.length === 0) return;
      try {
        mkdirSync(folder, { recursive: true, mode: 0o700 });
        writeFileSync(path.join(folder, `${process.pid}-${Date.now()}.json`), JSON.stringify({ result }));
      } catch {
        // not ours to write (another user): this run's coverage is lost, the test is not
      }
    });
  });
}
