// The application writers by name (F13), and object ids: "WRITER:PATTERN".
import { QrvError } from '../core/errors.ts';
import { postgresqlWriter } from './postgresql/writer.ts';
import { sqliteWriter } from './sqlite.ts';
import type { Writer } from './writer.ts';

const WRITERS: Writer[] = [postgresqlWriter, sqliteWriter];

export function writers(): Writer[] {
  return WRITERS;
}

export function getWriter(name: string): Writer {
  const writer = WRITERS.find((w) => w.name === name);
  if (!writer)
    throw new QrvError(
      'usage',
      'unknown-writer',
      `there is no application writer "${name}"`,
      `use one of: ${WRITERS.map((w) => w.name).join(', ')}`,
    );
  return writer;
}

/** "postgresql:main/billing" → the writer and what follows the colon. */
export function parseObjectId(id: string): { writer: Writer; pattern: string } {
  const colon = id.indexOf(':');
  if (colon <= 0 || colon === id.length - 1)
    throw new QrvError(
      'usage',
      'bad-object',
      `"${id}" is not an application object`,
      'name one as WRITER:OBJECT, e.g. postgresql:main/billing or sqlite:/srv/app/app.db',
    );
  return { writer: getWriter(id.slice(0, colon)), pattern: id.slice(colon + 1) };
}
