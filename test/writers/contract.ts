// The one contract every application writer passes (F13), written once and run against each
// writer with a real instance (a PostgreSQL cluster, an SQLite database), as the providers share
// test/helpers/provider-contract.ts. What "held" means differs — SQLite's write lock blocks other
// writers, PostgreSQL's pg_backup_start does not — so each fixture says how to see it.
import fs from 'node:fs/promises';
import type { Test } from 'tap';
import { isQrvError } from '../../src/core/errors.ts';
import type { HoldRecord, Writer, WriterObject } from '../../src/writers/writer.ts';

export interface WriterSubject {
  /** what follows "writer:" in an object id, naming exactly the subject's one object */
  pattern: string;
  /** what find(pattern) must find: the instance's name, the object's, and paths that exist */
  expect: { instance: string; name: string; paths: string[] };
  /** a pattern that names nothing on this host */
  nothing: string;
  /** a write from another connection: committed, or refused because the instance is held */
  write: () => Promise<'committed' | 'refused'>;
  /** whether the instance is held, seen from outside qrv (SQLite: a write cannot commit; PostgreSQL: a backup is in progress) */
  isHeld: () => Promise<boolean>;
  /** checks what release() returned for a hold labelled `label` */
  checkRecord?: (t: Test, record: HoldRecord, label: string) => void;
  /** makes the instance gone in one of its fixture's ways */
  makeGone: (how: string) => Promise<void>;
}

export interface WriterFixture {
  writer: Writer;
  /**
   * A real instance with one object. `own`: one of its own, that the test may take down (made
   * gone); else it may be shared with the other tests (that leave it as they found it).
   */
  make: (t: Test, own: boolean) => Promise<WriterSubject>;
  /** the ways an instance can be gone (stopped, removed, not a database) */
  gone: string[];
  /** what the error of a hold of a gone instance must say, by way */
  goneSays?: Record<string, RegExp>;
}

const OPTIONS = { timeoutMs: 5000 };

/** `check` answers `want` within `ms` (a backend may take a moment to end after its client). */
async function eventually(check: () => Promise<boolean>, want: boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await check()) === want) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function theObject(t: Test, writer: Writer, subject: WriterSubject): Promise<WriterObject> {
  const found = await writer.find(subject.pattern);
  t.equal(found.length, 1, `${subject.pattern} finds one object`);
  return found[0] as WriterObject;
}

export function writerContract(t: Test, fixture: WriterFixture): void {
  const { writer } = fixture;

  t.test(`${writer.name}: find() finds exactly the object, with its paths`, async (t) => {
    const subject = await fixture.make(t, false);
    const object = await theObject(t, writer, subject);
    t.equal(object.instance.writer, writer.name, 'its writer');
    t.equal(object.instance.name, subject.expect.instance, 'its instance');
    t.equal(object.name, subject.expect.name, 'its name');
    for (const file of subject.expect.paths) {
      t.ok(object.instance.paths.includes(file), `its paths name ${file}`);
      t.ok(await fs.stat(file).catch(() => null), `${file} exists`);
    }
    t.ok(
      object.instance.paths.every((p) => p.startsWith('/')),
      'every path is absolute',
    );
  });

  t.test(`${writer.name}: find() of a pattern that names nothing finds nothing`, async (t) => {
    const subject = await fixture.make(t, false);
    t.same(await writer.find(subject.nothing), [], subject.nothing);
  });

  t.test(`${writer.name}: hold() brings it to rest until release(), which says where it stood`, async (t) => {
    const subject = await fixture.make(t, false);
    const object = await theObject(t, writer, subject);
    t.equal(await subject.write(), 'committed', 'a write commits before the hold');
    t.notOk(await subject.isHeld(), 'not held before');
    const label = `qrv contract ${writer.name}`;
    const held = await writer.hold(object.instance, { label, ...OPTIONS });
    t.ok(held.method.length > 0, `how: ${held.method}`);
    t.ok(await subject.isHeld(), 'held while held');
    t.ok(await subject.isHeld(), 'and still held a moment later');
    const record = await held.release();
    t.ok(record.position, `a position: ${record.position}`);
    subject.checkRecord?.(t, record, label);
    t.ok(await eventually(subject.isHeld, false), 'not held after release()');
    t.equal(await subject.write(), 'committed', 'a write commits again after release()');
  });

  t.test(`${writer.name}: abandon() after hold() lets go, and it can be held again at once`, async (t) => {
    const subject = await fixture.make(t, false);
    const object = await theObject(t, writer, subject);
    const held = await writer.hold(object.instance, { label: 'abandoned', ...OPTIONS });
    t.ok(await subject.isHeld(), 'held');
    await held.abandon();
    t.ok(await eventually(subject.isHeld, false), 'not held after abandon()');
    t.equal(await subject.write(), 'committed', 'a write commits after abandon()');
    await held.abandon();
    t.pass('abandon() twice is no error');
    const again = await writer.hold(object.instance, { label: 'again', ...OPTIONS });
    t.ok(await subject.isHeld(), 'held again right after');
    t.ok((await again.release()).position, 'and released');
  });

  t.test(`${writer.name}: hold() of an instance that is gone fails in one clear line`, async (t) => {
    t.ok(fixture.gone.length > 0, `ways to be gone: ${fixture.gone.join(', ')}`);
    for (const how of fixture.gone) {
      const subject = await fixture.make(t, true);
      const object = await theObject(t, writer, subject);
      await subject.makeGone(how);
      const started = Date.now();
      const error = await writer.hold(object.instance, { label: 'gone', ...OPTIONS }).then(
        () => null,
        (e: unknown) => e,
      );
      t.ok(isQrvError(error), `${how}: a QrvError (${String(error)})`);
      if (!isQrvError(error)) continue;
      t.equal(error.code, 'writer-failed', `${how}: writer-failed`);
      t.notMatch(error.message, /\n/, `${how}: one line: ${error.message}`);
      t.notMatch(error.message, /runuser/, `${how}: names no runuser`);
      t.ok(error.hint, `${how}: a hint`);
      const says = fixture.goneSays?.[how];
      if (says) t.match(error.message, says, `${how}: says why`);
      t.ok(Date.now() - started < OPTIONS.timeoutMs, `${how}: failed at once, not at the timeout`);
    }
  });
}
