// The coverage check of `npm test`, run after tap: the program as shipped, measured.
// tap records what runs inside each test process (src/ loaded through scripts/tap/
// esbuild-import.mjs); scripts/coverage/parent.mjs adds what runs in the processes the tests
// start (bin/qrv -> dist/*.mjs; in the VM lane the single executable dist/qrv, whose bundle is
// dist/qrv.cjs). Both are V8 coverage; c8 maps the bundle back to src/ through its source maps and
// keeps only src/ (the bundled dependencies are not ours to measure). Fails when a total is under
// THRESHOLDS or a file of src/ was never loaded at all (it would be missing from the table, not
// counted as 0).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import fg from 'fast-glob';
import { Report } from 'c8';
import { mergeFolder, mergeProcessCovs } from './parent.mjs';

// Issue 17 asks for at least 90/85/90/90 on the shipped program; a whole run (host and VM lane)
// measured 93.0/90.4/93.4/93.0 when these were set, a little above them so that a path a random
// kill takes or not does not fail the run. Branches: since the tests load src/ through esbuild
// (scripts/tap/esbuild-import.mjs) rather than ts-node, a whole run measures 88.8 % where it
// measured 91.3 % (functions 96.1 against 93.6, lines 93.4 against 93.5). The same tests give the
// same numbers in-process either way (catalog/journal.ts 40 of 55 branches, 207 of 216 lines);
// what changed is how a file's in-process branches and its branches in the bundle, each mapped
// back through a different source map, are told apart when the two are added up.
const THRESHOLDS = { statements: 91, branches: 86, functions: 91, lines: 91 };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tapCoverage = path.join(root, '.tap', 'coverage');
const childCoverage = path.join(root, '.tap', 'child-coverage');

/** Folders a test process left unmerged (it was killed) are merged now; all go to tap's folder. */
function gatherChildren() {
  if (!existsSync(childCoverage)) return 0;
  mkdirSync(tapCoverage, { recursive: true });
  let count = 0;
  for (const entry of readdirSync(childCoverage, { withFileTypes: true })) {
    const at = path.join(childCoverage, entry.name);
    if (entry.isDirectory()) mergeFolder(at, `${at}.json`);
  }
  for (const name of readdirSync(childCoverage)) {
    if (!name.endsWith('.json')) continue;
    renameSync(path.join(childCoverage, name), path.join(tapCoverage, `child-${name}`));
    count += 1;
  }
  return count;
}

/** The bundle's source maps, in the form Node gives them in a coverage file, for c8 to map with. */
function writeBundleMaps() {
  const cache = {};
  for (const file of fg.sync(['dist/*.mjs', 'dist/qrv.cjs'], { cwd: root, absolute: true })) {
    if (!existsSync(`${file}.map`)) continue;
    const lineLengths = readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.length);
    const data = JSON.parse(readFileSync(`${file}.map`, 'utf8'));
    // absolute, so that the include rule below sees src/... and not ../src/...
    data.sources = data.sources.map((source) => path.resolve(path.dirname(file), source));
    cache[pathToFileURL(file).href] = { lineLengths, data };
  }
  writeFileSync(
    path.join(tapCoverage, 'bundle-source-maps.json'),
    JSON.stringify({ result: [], 'source-map-cache': cache }),
  );
}

/**
 * The single executable's CommonJS bundle (dist/qrv.cjs, run in the VM lane) holds two kinds of
 * functions that esbuild writes around each module qrv imports lazily, and that map back to src/
 * as something they are not:
 * - the module's init (`"src/x.ts"() {...}`): it runs the module's top-level statements (classes
 *   included); its functions are hoisted out of it, between the `// src/x.ts` line that opens the
 *   module and the init. Mapped back, the init spans the whole file, and it is applied after the
 *   functions (it follows them). Run, it would mark every line run; never run, V8 reports it (and
 *   run, V8 leaves it out when its count is its parent's, so its merged count says nothing). So:
 *   when anything of the module ran in any process, it is left out, and the functions and the
 *   bundle's own range give each line its count; when nothing did, it marks the whole file not
 *   run (nothing in it was created), as a range, not as a function of the file.
 * - the getters of its exports object (`name: () => name`), which map to line 1 as functions
 *   named like the real ones: left out.
 * Only every process's coverage of the bundle merged says what ran, so that is done first, into
 * one file. What remains counts as the ESM build's does.
 */
function mergeBundleCoverage() {
  const bundle = path.join(root, 'dist', 'qrv.cjs');
  if (!existsSync(bundle)) return;
  const url = pathToFileURL(bundle).href;
  const scripts = [];
  for (const name of readdirSync(tapCoverage)) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(tapCoverage, name);
    const coverage = JSON.parse(readFileSync(file, 'utf8'));
    const script = coverage.result?.find((entry) => entry.url === url);
    if (!script) continue;
    scripts.push({ result: [script] });
    coverage.result = coverage.result.filter((entry) => entry !== script);
    writeFileSync(file, JSON.stringify(coverage));
  }
  if (scripts.length === 0) return;
  const [merged] = mergeProcessCovs(scripts).result;
  writeFileSync(
    path.join(tapCoverage, 'single-executable.json'),
    JSON.stringify({ result: [trimmed(merged, readFileSync(bundle, 'utf8'))] }),
  );
}

/** The bundle's coverage without the getters and the inits of its lazily imported modules. */
function trimmed(script, text) {
  const starts = [...text.matchAll(/^\/\/ (src\/\S+\.tsx?)$/gm)].map((m) => ({ file: m[1], at: m.index }));
  const opened = (file, before) => starts.findLast((start) => start.file === file && start.at < before)?.at ?? before;
  const ran = (from, to) =>
    script.functions.some(
      ({ ranges: [root] }) =>
        root.count > 0 && root.startOffset >= from && root.endOffset <= to && root.startOffset > 0,
    );
  script.functions = script.functions.flatMap((fn) => {
    const [whole] = fn.ranges;
    const head = text.slice(whole.startOffset, whole.startOffset + 200);
    if (text.slice(whole.startOffset, whole.endOffset) === `() => ${fn.functionName}`) return [];
    const init = /^"(src\/[^"]+\.tsx?)"\(\) \{/.exec(head);
    if (!init) return [fn];
    if (whole.count > 0 || ran(opened(init[1], whole.startOffset), whole.endOffset)) return [];
    return [{ functionName: '', isBlockCoverage: false, ranges: [whole] }];
  });
  return script;
}

const children = gatherChildren();
if (!existsSync(tapCoverage)) {
  console.log('coverage: nothing recorded (tap ran with coverage off?); not checked');
  process.exit(0);
}
writeBundleMaps();
mergeBundleCoverage();
const report = new Report({
  reporter: ['text'],
  reportsDirectory: path.join(root, '.tap', 'report'),
  tempDirectory: tapCoverage,
  include: ['src/**'],
  exclude: [],
  excludeAfterRemap: true,
  excludeNodeModules: true,
  skipFull: true,
});
await report.run();
const map = await report.getCoverageMapFromAllCoverageFiles();
const summary = map.getCoverageSummary();
let failed = false;
for (const [kind, least] of Object.entries(THRESHOLDS)) {
  const pct = Number(summary[kind].pct) || 0;
  if (pct < least) {
    console.log(`coverage: ${kind} ${pct}% is under ${least}%`);
    failed = true;
  }
}
const measured = new Set(map.files().map((file) => path.relative(root, file)));
/** A file of types only compiles to nothing: there is nothing in it to run. */
const hasCode = (file) =>
  transformSync(readFileSync(path.join(root, file), 'utf8'), {
    loader: file.endsWith('x') ? 'tsx' : 'ts',
  }).code.trim() !== '';
const never = fg.sync('src/**/*.{ts,tsx}', { cwd: root }).filter((file) => !measured.has(file) && hasCode(file));
for (const file of never) console.log(`coverage: ${file} was never loaded by any test or by qrv under test`);
console.log(`coverage: ${children} test processes' children included; thresholds ${JSON.stringify(THRESHOLDS)}`);
process.exit(failed || never.length > 0 ? 1 : 0);
