// The output guard: a stream that failed is closed for good, later writes are dropped, nothing
// throws, and only an error other than EPIPE is worth a line on the other stream.
import t from 'tap';
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { guardOutput, isClosed, write } from '../../src/output/closed-output.ts';

function failing(code: string): { stream: NodeJS.WriteStream; attempts: () => number } {
  let attempts = 0;
  const stream = new Writable({
    write(_chunk, _encoding, callback) {
      attempts += 1;
      callback(Object.assign(new Error(`write ${code}`), { code }));
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, attempts: () => attempts };
}

function recording(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
}

t.test('EPIPE: the stream is closed, later writes are dropped, nothing is said', async (t) => {
  const out = failing('EPIPE');
  const err = recording();
  guardOutput(out.stream, err.stream);
  write(out.stream, 'first\n');
  await tick();
  t.ok(isClosed(out.stream), 'closed after the error');
  for (let i = 0; i < 5; i += 1) write(out.stream, 'more\n');
  await tick();
  t.equal(out.attempts(), 1, 'no write after the first failure');
  t.equal(err.text(), '', 'nothing about EPIPE on the other stream');
  t.notOk(isClosed(err.stream));
});

t.test('another error (ENOSPC) is one line on the other stream, once', async (t) => {
  const out = failing('ENOSPC');
  const err = recording();
  guardOutput(out.stream, err.stream);
  guardOutput(out.stream, err.stream); // twice is once
  write(out.stream, 'a\n');
  await tick();
  write(out.stream, 'b\n');
  await tick();
  t.equal(err.text(), 'qrv: cannot write to stderr (ENOSPC); the command went on without it\n');
});

t.test('a write that throws is caught and closes the stream', async (t) => {
  const err = recording();
  const stream = {
    destroyed: false,
    write() {
      throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    },
  } as unknown as NodeJS.WriteStream;
  t.doesNotThrow(() => write(stream, 'x\n'));
  t.ok(isClosed(stream));
  t.equal(err.text(), '');
});
