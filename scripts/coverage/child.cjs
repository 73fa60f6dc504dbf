// Loaded (NODE_OPTIONS --require) into every process a test starts while tap measures coverage:
// records V8's precise coverage of the shipped bundle and writes it, at exit, into the folder the
// test process named in QRV_CHILD_COVERAGE. Only the bundle's scripts are kept: dist/*.mjs that
// bin/qrv runs, and dist/qrv.cjs inside the single executable (V8 names it by the path it was
// built at, scripts/package.mjs). Their source maps lead back to src/ in the report. A process
// that cannot write there (a test running qrv as nobody) records nothing rather than fail.
// CommonJS, because the single executable loads only that (--import does nothing there).
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');
const path = require('node:path');

const folder = process.env.QRV_CHILD_COVERAGE;
const BUNDLE = /^file:\/\/.*\/dist\/qrv[^/]*\.(mjs|cjs)$/;

if (folder) {
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
