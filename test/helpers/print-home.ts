// Prints resolveHome's answer for each case given as JSON on argv[2] ([flag, env] pairs), one JSON
// array on stdout. The home tests run it as another user to reach the non-root branch.
import { resolveHome } from '../../src/catalog/home.ts';

const cases = JSON.parse(process.argv[2] ?? '[]') as Array<[string | undefined, Record<string, string>]>;
process.stdout.write(
  `${JSON.stringify({ uid: process.getuid?.(), homes: cases.map(([flag, env]) => resolveHome(flag ?? undefined, env)) })}\n`,
);
