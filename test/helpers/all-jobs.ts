// Every job row of a home: the live ones in catalog.json and the finished ones the history store
// holds (<home>/history/jobs-YYYY-MM.ndjson), each id once (the catalog wins), for tests that
// count jobs after the catalog moved finished rows away.
import fs from 'node:fs/promises';
import path from 'node:path';

export async function allJobs(home: string): Promise<Array<Record<string, any>>> {
  const live = JSON.parse(await fs.readFile(path.join(home, 'catalog.json'), 'utf8')).jobs as Array<
    Record<string, any>
  >;
  const seen = new Set(live.map((j) => j.id));
  const dir = path.join(home, 'history');
  const files = (await fs.readdir(dir).catch(() => [] as string[]))
    .filter((f) => /^jobs-\d{4}-\d{2}\.ndjson$/.test(f))
    .sort();
  const moved: Array<Record<string, any>> = [];
  for (const file of files) {
    for (const line of (await fs.readFile(path.join(dir, file), 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      const { id, row } = JSON.parse(line) as { id: string; row: Record<string, any> };
      if (!seen.has(id)) moved.push(row);
      seen.add(id);
    }
  }
  return [...moved, ...live];
}
