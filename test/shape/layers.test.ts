// The layer rules of scripts/dependency-cruiser.cjs: src/ keeps them, and each rule catches what it is
// for (checked on a scratch tree with one violation of each, so a rule that matches nothing fails).
import t from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';

const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');

async function cruise(cwd: string): Promise<{ exitCode: number; errors: string[] }> {
  const run = await execa(
    DEPCRUISE,
    ['src', '--config', path.join(ROOT, 'scripts', 'dependency-cruiser.cjs'), '--output-type', 'err'],
    { cwd, reject: false, all: true },
  );
  const errors = String(run.all ?? '')
    .split('\n')
    .map((line) => /^\s*error (\S+): (\S+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2]}`);
  return { exitCode: run.exitCode ?? -1, errors };
}

t.test('src/ keeps its layers: no cycle, no upward import, ink and child processes where they belong', async (t) => {
  const run = await cruise(ROOT);
  t.same(run.errors, []);
  t.equal(run.exitCode, 0);
});

t.test('each rule catches its violation', async (t) => {
  const dir = await tmpDir(t);
  await fs.symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  await fs.copyFile(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  const files: Record<string, string> = {
    'src/core/low.ts': "import { run } from '../engine/high.ts';\nexport const low = run;\n",
    'src/engine/high.ts': 'export const run = 1;\n',
    'src/core/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'src/core/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    'src/engine/draws.ts': "import { Text } from 'ink';\nexport const t = Text;\n",
    'src/copy/spawns.ts': "import { spawn } from 'node:child_process';\nexport const s = spawn;\n",
    'src/elsewhere/x.ts': "import { run } from '../engine/high.ts';\nexport const x = run;\n",
    'src/system/tools.ts': "import { execa } from 'execa';\nexport const tool = execa;\n",
    'src/ui/ok.ts':
      "import { Text } from 'ink';\nimport { run } from '../engine/high.ts';\nexport const ok = [Text, run];\n",
  };
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.join(dir, path.dirname(name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  const run = await cruise(dir);
  t.not(run.exitCode, 0, 'the cruise fails');
  t.same(
    [...new Set(run.errors)].sort(),
    [
      'child-processes-only-through-the-wrappers src/copy/spawns.ts',
      'every-layer-is-known src/elsewhere/x.ts',
      'ink-and-react-only-in-ui src/engine/draws.ts',
      'no-cycles src/core/a.ts',
      'no-upward-from-core src/core/low.ts',
    ],
    'one error per violation; the tool wrapper and the UI are allowed what they do',
  );
});
