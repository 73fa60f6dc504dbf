import t from 'tap';
import { compareText, escapeControl } from '../../src/core/text.ts';

t.test('compareText orders by code unit, the same in every locale', async (t) => {
  t.same(['b', 'a-b', 'B', 'ab', 'a'].sort(compareText), ['B', 'a', 'a-b', 'ab', 'b']);
  // ISO timestamps of one format: code-unit order is time order
  const times = ['2026-12-05T10:00:00.000Z', '2026-01-31T23:59:59.999Z', '2026-12-05T09:59:59.999Z'];
  t.same([...times].sort(compareText), [times[1], times[2], times[0]]);
  t.equal(compareText('x', 'x'), 0);
  t.equal(compareText('', 'a'), -1);
  t.equal(compareText('a', ''), 1);
});

t.test('escapeControl makes control characters visible', async (t) => {
  t.equal(escapeControl('a\nb\tc\u001b[31m'), 'a\\nb\\tc\\x1b[31m');
});
