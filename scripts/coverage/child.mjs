// Loaded (NODE_OPTIONS --import) into every process a test starts while tap measures coverage:
// records V8's precise coverage of the shipped bundle (dist/*.mjs) and writes it, at exit, into
// the folder the test process named in QRV_CHILD_COVERAGE. Only the bundle's scripts are kept
// (their source maps lead back to src/ in the report); a process that cannot write there (a test
// running qrv as nobody) records nothing rather than fail.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const folder = process.env.QRV_CHILD_COVERAGE;
const bundle = pathToFileURL(path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'dist')).href;

if (folder) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  process.on('exit', () => {
    // A session on this thread answers synchronously, so this runs before the process ends.
    session.post('Profiler.takePreciseCoverage', (error, coverage) => {
      if (error) return;
      const result = coverage.result.filter((script) => script.url.startsWith(`${bundle}/`));
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
