// The shell examples of README.md and docs/*.md as data, and the loose comparison of what they
// show with what the commands print (test/docs/commands.test.ts runs them). How a document
// marks its examples is described in test/docs/commands.test.ts.

/** One `$ command` line and the output the document shows after it. */
export interface DocCommand {
  line: number;
  command: string;
  expected: string[];
}

export interface DocBlock {
  file: string;
  /** line of the opening fence (1-based) */
  line: number;
  commands: DocCommand[];
  /** `not-run: REASON`: the reason this block is not run; null when it runs */
  notRun: string | null;
  rootOnly: boolean;
  /** commands of a `doc-test: before` comment, run before this block, their output not shown */
  before: string[];
  /** the folder the document's text calls its working folder (replaced by the test's own) */
  folder: string | null;
}

const DIRECTIVE = /^<!--\s*doc-test:\s*([\s\S]*?)\s*-->$/;

/** The directives (`<!-- doc-test: ... -->`, possibly over several lines) that end at `end`. */
function directivesBefore(lines: string[], end: number): string[] {
  const found: string[] = [];
  let i = end - 1;
  while (i >= 0) {
    while (i >= 0 && lines[i]?.trim() === '') i -= 1;
    if (i < 0 || !lines[i]?.trimEnd().endsWith('-->')) break;
    let start = i;
    while (start >= 0 && !lines[start]?.trimStart().startsWith('<!--')) start -= 1;
    if (start < 0) break;
    const match = DIRECTIVE.exec(
      lines
        .slice(start, i + 1)
        .join('\n')
        .trim(),
    );
    if (!match) break;
    found.unshift(match[1] as string);
    i = start - 1;
  }
  return found;
}

/** Splits a shell block into its `$ ` commands, each with the lines shown after it. */
function commandsOf(body: string[], firstLine: number): DocCommand[] {
  const commands: DocCommand[] = [];
  body.forEach((text, index) => {
    if (text.startsWith('$ ')) commands.push({ line: firstLine + index, command: text.slice(2), expected: [] });
    else commands.at(-1)?.expected.push(text);
  });
  return commands;
}

/** Every fenced block of a markdown document that holds `$ ` command lines, with its directives. */
export function docBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  let folder: string | null = null;
  for (let i = 0; i < lines.length; i += 1) {
    const fence = /^(\s*)(```+)\s*(\S*)\s*$/.exec(lines[i] as string);
    if (!fence) {
      const standalone = DIRECTIVE.exec((lines[i] as string).trim());
      const set = standalone && /^folder\s+(\S+)$/.exec(standalone[1] as string);
      if (set) folder = set[1] as string;
      continue;
    }
    const close = lines.findIndex((text, j) => j > i && text.trim() === fence[2]);
    const end = close < 0 ? lines.length : close;
    const body = lines.slice(i + 1, end);
    const directives = directivesBefore(lines, i);
    for (const d of directives) {
      const set = /^folder\s+(\S+)$/.exec(d);
      if (set) folder = set[1] as string;
    }
    const commands = ['', 'sh', 'console', 'shell', 'bash'].includes(fence[3] as string) ? commandsOf(body, i + 2) : [];
    if (commands.length > 0) {
      const notRun = directives.map((d) => /^not-run:\s*([\s\S]+)$/.exec(d)?.[1]).find(Boolean) ?? null;
      const before = directives
        .filter((d) => /^before\b/.test(d))
        .flatMap((d) =>
          d
            .split('\n')
            .filter((l) => l.startsWith('$ '))
            .map((l) => l.slice(2)),
        );
      blocks.push({ file, line: i + 1, commands, notRun, rootOnly: directives.includes('root-only'), before, folder });
    }
    i = end;
  }
  return blocks;
}

export const ID = /(?<![A-Za-z0-9])[sqjga]-(?:[0-9a-f]{12}|[0-9a-f]{8})\b/g;

/** A progress line (how many a run prints depends on its speed): never compared. */
export const isProgress = (line: string): boolean => /^\w+: \d+% /.test(line);

/**
 * A line with what changes from run to run masked: ids, numbers (with their time unit: 0.80 ms
 * and 1.02 s are both a duration), long hex (checksums, UUIDs), and runs of spaces (table widths).
 * A line that is only a number (an `echo $?`) is kept: it is an exit status.
 */
export function mask(line: string): string {
  if (/^\d+$/.test(line.trim())) return line.trim();
  return line
    .replace(ID, '<id>')
    .replace(/\b[0-9a-f]{12,}\b/g, '<hex>')
    .replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g, '<hex>')
    .replace(/\d+(\.\d+)?\s?(ms|s)\b/g, '<t>')
    .replace(/\d+(\.\d+)?/g, '#')
    .replace(/\s+/g, ' ')
    .trim();
}

export interface Comparison {
  ok: boolean;
  why: string;
  /** the document's ids and the ones this run printed in their place */
  ids: Map<string, string>;
}

/**
 * Whether the actual output shows what the document shows. Lines that are `…` stand for any
 * number of lines; without one, the lines must correspond one to one. Progress lines are left
 * out on both sides. Ids the document shows are bound to the ones printed at the same place.
 */
export function compareOutput(expected: string[], actual: string[]): Comparison {
  const ids = new Map<string, string>();
  const want = expected.filter((l) => !isProgress(l) && l.trim() !== '');
  const got = actual.filter((l) => !isProgress(l) && l.trim() !== '');
  const loose = want.some((l) => l.trim() === '…');
  const wanted = want.filter((l) => l.trim() !== '…');
  if (!loose && wanted.length !== got.length)
    return { ok: false, why: `the document shows ${wanted.length} lines, the command printed ${got.length}`, ids };
  let at = 0;
  for (const line of wanted) {
    const masked = mask(line);
    let found = -1;
    for (let j = at; j < got.length; j += 1) {
      if (mask(got[j] as string) === masked) {
        found = j;
        break;
      }
      if (!loose) break;
    }
    if (found < 0)
      return {
        ok: false,
        why: `not printed${loose ? ' (in this order)' : ''}: ${line}\n  got: ${got.slice(at, at + 3).join('\n       ')}`,
        ids,
      };
    const theirs = line.match(ID) ?? [];
    const ours = (got[found] as string).match(ID) ?? [];
    theirs.forEach((id, k) => ids.set(id, ours[k] as string));
    at = found + 1;
  }
  return { ok: true, why: '', ids };
}
