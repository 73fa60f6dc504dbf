// Makes the one printer for this invocation. Ink is loaded only when it is used, so plain and
// JSON runs (cron) never load React.
import { JsonPrinter } from '../output/json-printer.ts';
import { PlainPrinter } from '../output/plain-printer.ts';
import type { OutputMode, Printer } from '../output/printer.ts';

export async function makePrinter(mode: OutputMode): Promise<Printer> {
  if (mode === 'json') return new JsonPrinter();
  if (mode === 'plain') return new PlainPrinter();
  const { InkPrinter } = await import('../ui/ink-printer.tsx');
  return new InkPrinter();
}
