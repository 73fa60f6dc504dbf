// --json: one object a line, each with a message_type, the summary last; an error is one
// object on the err writer with the exit code scripts rely on.
import t from 'tap';
import { QrvError } from '../../src/core/errors.ts';
import { Reporter } from '../../src/core/events.ts';
import { JsonPrinter } from '../../src/output/json-printer.ts';

function setup() {
  const out: string[] = [];
  const err: string[] = [];
  const printer = new JsonPrinter(
    (text) => void out.push(text),
    (text) => void err.push(text),
  );
  const reporter = new Reporter();
  printer.attach(reporter);
  return { out, err, printer, reporter };
}

function parseLines(chunks: string[]): Record<string, unknown>[] {
  const text = chunks.join('');
  if (!text.endsWith('\n')) throw new Error('output does not end with a newline');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

t.test('events then the summary, one JSON object a line', async (t) => {
  const { out, err, printer, reporter } = setup();
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' });
  reporter.emit({ type: 'progress', phase: 'copy', bytesDone: 512, bytesTotal: 1024, rate: 2048, etaSeconds: 0.25 });
  reporter.emit({ type: 'step', phase: 'copy', step: 'copy blocks', state: 'done', detail: 'all of it', ms: 3 });
  reporter.info('a message\nwith a newline and "quotes"');
  reporter.warn('careful');
  printer.summary({
    data: { qrv: { id: 'q-0123abcd', state: 'ready' }, job: { id: 'j-0123abcd' } },
    lines: ['not in JSON'],
  });
  await printer.close();

  t.equal(out.length, 6, 'one write per object');
  t.ok(
    out.every((chunk) => chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1),
    'each write is exactly one line',
  );
  const lines = parseLines(out);
  t.ok(
    lines.every((line) => typeof line.message_type === 'string'),
    'every line has a message_type',
  );
  t.ok(
    lines.every((line) => !('type' in line)),
    'no leftover "type" field',
  );
  t.same(lines, [
    { message_type: 'step', phase: 'copy', step: 'copy blocks', state: 'started' },
    { message_type: 'progress', phase: 'copy', bytesDone: 512, bytesTotal: 1024, rate: 2048, etaSeconds: 0.25 },
    { message_type: 'step', phase: 'copy', step: 'copy blocks', state: 'done', detail: 'all of it', ms: 3 },
    { message_type: 'info', message: 'a message\nwith a newline and "quotes"' },
    { message_type: 'warning', message: 'careful' },
    { message_type: 'summary', qrv: { id: 'q-0123abcd', state: 'ready' }, job: { id: 'j-0123abcd' } },
  ]);
  t.equal(lines.at(-1)?.message_type, 'summary', 'the summary is last');
  t.same(err, [], 'nothing on err, warnings included');
});

t.test('a null time left stays null', async (t) => {
  const { out, reporter } = setup();
  reporter.emit({ type: 'progress', phase: 'verify', bytesDone: 0, bytesTotal: 10, rate: 0, etaSeconds: null });
  t.same(parseLines(out), [
    { message_type: 'progress', phase: 'verify', bytesDone: 0, bytesTotal: 10, rate: 0, etaSeconds: null },
  ]);
});

t.test('an error is one JSON object on err with its exit code', async (t) => {
  const { out, err, printer } = setup();
  printer.error(
    new QrvError(
      'catalog',
      'catalog-corrupt',
      'catalog /x/catalog.json is corrupt: volumes: expected array',
      'restore it',
    ),
  );
  printer.error(new QrvError('busy', 'catalog-locked', 'another qrv'));
  t.same(out, [], 'nothing on out');
  t.same(parseLines(err), [
    {
      message_type: 'error',
      code: 'catalog-corrupt',
      exitCode: 5,
      message: 'catalog /x/catalog.json is corrupt: volumes: expected array',
      hint: 'restore it',
    },
    { message_type: 'error', code: 'catalog-locked', exitCode: 6, message: 'another qrv', hint: null },
  ]);
});
