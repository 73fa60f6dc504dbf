// Writes one benchmark's section of docs/PERFORMANCE.md between its markers
// (<!-- bench:NAME:start --> … <!-- bench:NAME:end -->), leaving other sections alone.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const HEADER =
  '# Performance\n\nMeasured numbers from the benchmarks under `bench/`. Each section is written by its benchmark between its markers; re-running a benchmark replaces only its own section.\n';

export async function writeSection(file: string, name: string, body: string): Promise<void> {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = `${start}\n${body.trim()}\n${end}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = HEADER;
  }
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    text = text.slice(0, from) + section + text.slice(to + end.length);
  } else {
    text = `${text.trimEnd()}\n\n${section}\n`;
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
}

/** Prints a benchmark's report and, unless BENCH_NO_DOCS=1, writes it as its section of docs/PERFORMANCE.md. */
export async function publishSection(root: string, name: string, lines: string[]): Promise<void> {
  const body = lines.join('\n');
  console.log(body);
  if (process.env.BENCH_NO_DOCS !== '1') await writeSection(`${root}/docs/PERFORMANCE.md`, name, body);
}
