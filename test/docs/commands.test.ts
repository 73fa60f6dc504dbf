// Every shell example in README.md and docs/*.md is run, so the documentation cannot drift from
// qrv again (issue 12, item 15).
//
// What runs: each fenced block (no language, or sh/console/shell/bash) with `$ command` lines.
// The lines after a command, up to the next `$ `, are the output the document shows.
// Each document runs in a fresh temporary folder, its blocks in order, as one shell session
// (cwd and exported variables carry over; each command runs in bash with stdin closed and
// stderr merged into stdout). QRV_HOME is <folder>/qrv-home, and `qrv` is this checkout's
// bin/qrv (a `qrv` script first on PATH; write `qrv ...`, never `node /path/bin/qrv`).
//
// How output is compared (test/helpers/doc-blocks.ts): ids, numbers, durations, checksums and
// table spacing are masked; progress lines are ignored; without a `…` line the lines must
// correspond one to one, a `…` line stands for any number of lines (output trimmed). Ids the
// document shows are bound to the ones printed in their place, so a later `qrv show s-0a8b0a8f`
// runs with the real id. A command must exit 0 unless the output shown for it is an error
// (a `qrv: ` line or a JSON error object) or it shows its status itself (`; echo $?`).
//
// Marking a document (HTML comments, invisible on GitHub), placed right before a block:
//   <!-- doc-test: not-run: REASON -->   the block is not run (needs device-mapper, a
//                                         fragment of a longer story, ...); counted and printed
//   <!-- doc-test: root-only -->         run only as root
//   <!-- doc-test: before
//   $ command                             commands run first, output not shown (set-up the
//   -->                                   text describes in words); run also when the block
//                                         itself is not run. Lines without `$ ` are notes.
//   <!-- doc-test: folder /tmp/tour -->  the folder the text works in: replaced by the test's
//                                         folder in commands, and the other way in output
// A new document in docs/ is picked up by itself: run this test, then fix or mark what fails.
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT } from '../helpers/cli.ts';
import { compareOutput, docBlocks, ID, type DocBlock } from '../helpers/doc-blocks.ts';
import { tmpDir } from '../helpers/tmp.ts';

const isRoot = process.getuid?.() === 0;
// Each command starts a bash and a node process; on a busy machine (README.md alone took 194 s
// with the load at 23 on 2 CPUs) the file's default limit of 300 s is too short.
t.setTimeout(3_600_000);
const ALL = [
  'README.md',
  ...(await fs.readdir(path.join(ROOT, 'docs')))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
/** QRV_DOC_TEST=docs/hooks.md (comma-separated) runs only those documents, while fixing one. */
const DOCS = process.env.QRV_DOC_TEST ? ALL.filter((f) => process.env.QRV_DOC_TEST?.split(',').includes(f)) : ALL;

/** Runs one command in the document's session: state (cwd, exports) is read before and saved after. */
async function runInSession(dir: string, bin: string, command: string): Promise<{ output: string; exitCode: number }> {
  const state = path.join(dir, '.doc-test-state.sh');
  const script = `source ${JSON.stringify(state)} 2>/dev/null\n{ ${command}\n} 2>&1\nrc=$?\n{ export -p; printf 'cd %q\\n' "$PWD"; } > ${JSON.stringify(state)}\nexit $rc\n`;
  const result = await execa('bash', ['-c', script], {
    cwd: dir,
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: process.env.HOME ?? '/root',
      QRV_HOME: path.join(dir, 'qrv-home'),
      CI: '',
      TERM: 'dumb',
      LANG: 'C.UTF-8',
    },
    extendEnv: false,
  });
  return { output: String(result.stdout), exitCode: result.exitCode ?? -1 };
}

/** The real ids in place of the document's, and the test's folder in place of the document's. */
function substitute(text: string, ids: Map<string, string>, folder: string | null, dir: string): string {
  const withIds = text.replace(ID, (id) => ids.get(id) ?? id);
  return folder ? withIds.split(folder).join(dir) : withIds;
}

const skipped: string[] = [];

async function runDocument(t: Test, file: string, blocks: DocBlock[]): Promise<void> {
  const dir = await tmpDir(t, 'qrv-doc-');
  // Others may enter it: examples run qrv as nobody (runuser) against root's homes in it.
  await fs.chmod(dir, 0o755);
  const bin = path.join(dir, '.doc-test-bin');
  await fs.mkdir(bin);
  // Without tap's NODE_OPTIONS (put back into every child): its loaders write into the
  // worktree, which a qrv run as nobody cannot.
  await fs.writeFile(
    path.join(bin, 'qrv'),
    `#!/bin/sh\nunset NODE_OPTIONS\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`,
    { mode: 0o755 },
  );
  const ids = new Map<string, string>();
  for (const block of blocks) {
    const where = `${file}:${block.line}`;
    // the set-up is part of the document's story: it runs even when its block does not
    for (const command of block.before) {
      const run = await runInSession(dir, bin, substitute(command, ids, block.folder, dir));
      t.equal(run.exitCode, 0, `${where} (before): ${command}`, { output: run.output });
    }
    if (block.notRun !== null || (block.rootOnly && !isRoot)) {
      skipped.push(`${where}: ${block.notRun ?? 'root only'}`);
      continue;
    }
    for (const { line, command, expected } of block.commands) {
      const run = await runInSession(dir, bin, substitute(command, ids, block.folder, dir));
      const lines = (block.folder ? run.output.split(dir).join(block.folder) : run.output)
        .replace(/\n$/, '')
        .split('\n');
      const wantsError =
        expected.some((l) => l.startsWith('qrv: ') || l.startsWith('{"message_type":"error"')) ||
        /;\s*echo (\$\?|"rc=\$\?")/.test(command);
      const name = `${file}:${line}: $ ${command}`;
      if (!wantsError) t.equal(run.exitCode, 0, `${name}: exit 0`, { output: run.output });
      const compared = compareOutput(expected, lines);
      t.ok(compared.ok, `${name}: output as shown`, { why: compared.why, output: lines.join('\n') });
      for (const [theirs, ours] of compared.ids) {
        const bound = ids.get(theirs);
        if (bound !== undefined && bound !== ours)
          t.fail(`${name}: the document calls both ${bound} and ${ours} "${theirs}"`);
        else ids.set(theirs, ours);
      }
    }
  }
}

for (const file of DOCS) {
  const blocks = docBlocks(await fs.readFile(path.join(ROOT, file), 'utf8'), file);
  if (blocks.length === 0) continue;
  t.test(file, { timeout: 3_000_000 }, async (t) => runDocument(t, file, blocks));
}

t.test('what was not run is said', async (t) => {
  t.comment(`${skipped.length} example blocks not run here${skipped.length ? ':' : ''}`);
  for (const line of skipped) t.comment(`  ${line}`);
  t.pass(`${skipped.length} blocks marked not-run (or root-only, not root)`);
});
