// Short typed ids: a kind letter and twelve hex digits (eight in ids made before 2026-12).
import t from 'tap';
import { idKind, newId, type IdKind } from '../../src/core/ids.ts';

const KINDS: IdKind[] = ['s', 'q', 'j', 'g'];

t.test('newId makes KIND-12hex ids that idKind reads back', async (t) => {
  for (const kind of KINDS) {
    const id = newId(kind);
    t.match(id, new RegExp(`^${kind}-[0-9a-f]{12}$`), id);
    t.equal(idKind(id), kind);
  }
});

t.test('newId skips ids that are taken', async (t) => {
  const seen: string[] = [];
  const id = newId('s', (candidate) => {
    seen.push(candidate);
    return seen.length <= 3;
  });
  t.equal(seen.length, 4, 'asked about each candidate until one was free');
  t.equal(id, seen[3], 'returns the first free candidate');

  const taken = new Set<string>();
  for (let i = 0; i < 2000; i += 1) taken.add(newId('j', (c) => taken.has(c)));
  t.equal(taken.size, 2000, 'never returns a taken id');
});

t.test('newId is random', async (t) => {
  const ids = new Set(Array.from({ length: 200 }, () => newId('q')));
  t.ok(ids.size >= 199, `${ids.size} distinct of 200`);
});

t.test('idKind refuses anything not exactly KIND-12hex or KIND-8hex', async (t) => {
  const bad = [
    '',
    'x-0123abcd',
    's-0123abc',
    's-0123abcde',
    's-0123abcd01',
    's-0123abcd01234',
    's-0123abcd012G',
    'S-0123abcd',
    's-0123ABCD',
    's-0123abcg',
    ' s-0123abcd',
    's-0123abcd ',
    's_0123abcd',
    'sq-0123abcd',
    'vol1',
  ];
  for (const id of bad) t.equal(idKind(id), undefined, JSON.stringify(id));
  t.equal(idKind('g-00000000'), 'g');
  t.equal(idKind('j-ffffffff'), 'j', 'an id made before 2026-12');
  t.equal(idKind('s-0123456789ab'), 's');
});
