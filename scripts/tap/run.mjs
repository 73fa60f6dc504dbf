// Runs tap with its output passed through, then, when something failed, repeats each failed
// assertion at the end with the files and subtests it is in and the first lines of its
// diagnostics: a CI log that keeps only its tail still says what failed.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const child = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
const stack = [];
const failures = [];
let diagnostics = null;

const lines = createInterface({ input: child.stdout });
lines.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  const indent = line.length - line.trimStart().length;
  const text = line.trim();
  if (diagnostics) {
    if (text === '...' && indent <= diagnostics.indent) diagnostics = null;
    else if (diagnostics.lines.length < 200) diagnostics.lines.push(line.slice(diagnostics.indent));
    return;
  }
  const subtest = /^# Subtest: (.*)$/.exec(text);
  if (subtest) {
    stack.length = indent / 4;
    stack.push(subtest[1]);
    return;
  }
  const failed = /^not ok \d+ - (.*?)(?: # time=.*)?$/.exec(text);
  if (failed) {
    const path = stack.slice(0, indent / 4);
    // a test that failed because something inside it did is already listed by that something
    const whole = [...path, failed[1]];
    const inner = failures.some((f) => f.path.length >= whole.length && whole.every((p, i) => f.path[i] === p));
    if (!inner) {
      const failure = { path, name: failed[1], lines: [] };
      failures.push(failure);
      diagnostics = { indent: indent + 2, lines: failure.lines };
    }
  } else if (text === '---') diagnostics = null;
});

/** The diagnostics without the stack, the source and the position (said once, as file:line), at most 16 lines. */
function brief(lines) {
  const out = [];
  let skipping = false;
  let at = {};
  for (const line of lines) {
    const key = /^(\w+):/.exec(line)?.[1];
    if (key) skipping = ['stack', 'source', 'at', 'compare'].includes(key);
    if (skipping) {
      const field = /^\s+(fileName|lineNumber): (.*)$/.exec(line);
      if (field) at[field[1]] = field[2];
      continue;
    }
    if (line.trim() !== '---') out.push(line);
  }
  if (at.fileName) out.unshift(`at: ${at.fileName}:${at.lineNumber}`);
  return out.slice(0, 16);
}

child.on('close', (status, signal) => {
  if (failures.length) {
    process.stdout.write(`\n# ${failures.length} failed:\n`);
    for (const failure of failures) {
      process.stdout.write(`# not ok: ${[...failure.path, failure.name].join(' > ')}\n`);
      for (const line of brief(failure.lines)) process.stdout.write(`#     ${line}\n`);
    }
  }
  process.exit(signal ? 1 : (status ?? 1));
});
