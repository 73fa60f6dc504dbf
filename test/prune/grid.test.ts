import t from 'tap';
import { formatGrid, parseGrid, selectByGrid, type Grid, type GridItem } from '../../src/prune/grid.ts';

/** Each item's id with its verdict: "+reason" kept, "-reason" removed. */
function verdicts(items: GridItem[], grid: string | Grid, now: string): Record<string, string> {
  const rules = typeof grid === 'string' ? parseGrid(grid) : grid;
  const out: Record<string, string> = {};
  for (const choice of selectByGrid(items, rules, new Date(now)))
    out[choice.item.id] = `${choice.keep ? '+' : '-'}${choice.reason}`;
  return out;
}

const item = (id: string, pointInTime: string): GridItem => ({ id, pointInTime });

t.test('parseGrid reads counts and units in the order written; formatGrid writes them back', async (t) => {
  t.same(parseGrid('24h,7d,4w,12m'), [
    { unit: 'h', count: 24 },
    { unit: 'd', count: 7 },
    { unit: 'w', count: 4 },
    { unit: 'm', count: 12 },
  ]);
  t.same(parseGrid('48h'), [{ unit: 'h', count: 48 }]);
  t.same(parseGrid('1y'), [{ unit: 'y', count: 1 }]);
  t.same(parseGrid(' 12m , 2y,36h '), [
    { unit: 'm', count: 12 },
    { unit: 'y', count: 2 },
    { unit: 'h', count: 36 },
  ]);
  t.same(parseGrid('007d'), [{ unit: 'd', count: 7 }], 'leading zeros are only digits');
  t.same(parseGrid('999999h'), [{ unit: 'h', count: 999999 }], 'the largest count');
  t.equal(formatGrid(parseGrid(' 24h, 7d,4w , 12m')), '24h,7d,4w,12m');
  t.equal(formatGrid(parseGrid('1y,48h')), '1y,48h', 'the order written is kept');
  t.equal(formatGrid([]), '');
});

t.test('parseGrid refuses what it cannot read with one usage error saying what is wrong', async (t) => {
  const cases: [string, RegExp][] = [
    ['24h,48h', /^retention grid "24h,48h" names hours twice \(24h and 48h\)$/],
    ['1m,7d,2m', /names months twice \(1m and 2m\)/],
    ['0d', /has "0d": a count of zero keeps nothing/],
    ['24h,000w', /has "000w": a count of zero keeps nothing/],
    ['5x', /has "5x", whose unit "x" is not one of h, d, w, m, y/],
    ['30min', /has "30min", whose unit "min" is not one of h, d, w, m, y/],
    ['24H', /whose unit "H" is not one of/],
    ['7', /has "7" without a unit/],
    ['', /^retention grid "" is empty$/],
    ['  ', /is empty/],
    ['24h,,7d', /has an empty part between commas/],
    ['24h,', /has an empty part between commas/],
    ['h24', /has "h24", which is not a count followed by a unit/],
    ['-1d', /has "-1d", which is not a count followed by a unit/],
    ['1.5d', /has "1.5d", which is not/],
    ['7 d', /has "7 d", which is not/],
    ['24h;7d', /has "24h;7d", which is not/],
    ['1000000h', /has "1000000h": a count must be at most 999999/],
  ];
  for (const [text, message] of cases)
    t.throws(
      () => parseGrid(text),
      { name: 'QrvError', code: 'usage', exit: 'usage', message, hint: /e\.g\. 24h,7d,4w,12m/ },
      JSON.stringify(text),
    );
});

t.test('nothing in, nothing out', async (t) => {
  t.same(selectByGrid([], parseGrid('24h,7d'), new Date('2026-12-04T13:30:00Z')), []);
});

t.test('hours: the newest of each covered hour, counting back from the hour of now', async (t) => {
  const items = [
    item('a-10', '2026-12-04T13:10:00.000Z'),
    item('a-20', '2026-12-04T13:20:00.000Z'),
    item('a-12', '2026-12-04T12:59:59.999Z'),
    item('a-11', '2026-12-04T12:00:00.000Z'),
    item('a-09', '2026-12-04T11:59:59.999Z'),
  ];
  t.same(verdicts(items, '2h', '2026-12-04T13:30:00Z'), {
    'a-10': '-outside the grid 2h (a-20 holds hour 2026-12-04 13h)',
    'a-20': '+newest of hour 2026-12-04 13h',
    'a-12': '+newest of hour 2026-12-04 12h',
    'a-11': '-outside the grid 2h (a-12 holds hour 2026-12-04 12h)',
    'a-09': '-outside the grid 2h',
  });
  t.same(
    verdicts(items, '2h', '2026-12-04T13:00:00.000Z'),
    {
      'a-10': '+newer than now',
      'a-20': '+newer than now',
      'a-12': '+newest of hour 2026-12-04 12h',
      'a-11': '-outside the grid 2h (a-12 holds hour 2026-12-04 12h)',
      'a-09': '-outside the grid 2h',
    },
    'at the first instant of the hour, items later in it are newer than now',
  );
  t.same(verdicts(items, '1h', '2026-12-04T12:59:59.999Z'), {
    'a-10': '+newer than now',
    'a-20': '+newer than now',
    'a-12': '+newest of hour 2026-12-04 12h',
    'a-11': '-outside the grid 1h (a-12 holds hour 2026-12-04 12h)',
    'a-09': '-outside the grid 1h',
  });
});

t.test(
  'midnight: the last millisecond of a day and the first of the next are in different hours and days',
  async (t) => {
    const items = [
      item('a-1', '2026-12-03T23:59:59.999Z'),
      item('a-2', '2026-12-04T00:00:00.000Z'),
      item('a-0', '2026-12-02T23:59:59.999Z'),
    ];
    t.same(verdicts(items, '2h', '2026-12-04T00:30:00Z'), {
      'a-1': '+newest of hour 2026-12-03 23h',
      'a-2': '+newest of hour 2026-12-04 00h',
      'a-0': '-outside the grid 2h',
    });
    t.same(verdicts(items, '2d', '2026-12-04T00:30:00Z'), {
      'a-1': '+newest of day 2026-12-03',
      'a-2': '+newest of day 2026-12-04',
      'a-0': '-outside the grid 2d',
    });
    t.same(verdicts(items, '1d', '2026-12-04T00:00:00.000Z'), {
      'a-1': '-outside the grid 1d',
      'a-2': '+newest of day 2026-12-04',
      'a-0': '-outside the grid 1d',
    });
    t.same(verdicts(items, '1d', '2026-12-03T23:59:59.999Z'), {
      'a-1': '+newest of day 2026-12-03',
      'a-2': '+newer than now',
      'a-0': '-outside the grid 1d',
    });
  },
);

t.test('weeks start on Monday and keep their ISO week-numbering year across a year end', async (t) => {
  // 2026 began on a Thursday, so it has a week 53: Monday 2026-12-28 to Sunday 2027-01-03
  const items = [
    item('a-5', '2027-01-04T00:00:00.000Z'), // Monday: 2027-W01
    item('a-4', '2027-01-03T23:59:59.999Z'), // Sunday: the last instant of 2026-W53
    item('a-3', '2027-01-01T12:00:00.000Z'), // a Friday in 2026-W53
    item('a-2', '2026-12-28T00:00:00.000Z'), // the first instant of 2026-W53
    item('a-1', '2026-12-27T23:59:59.999Z'), // Sunday of 2026-W52
    item('a-0', '2026-12-21T00:00:00.000Z'), // Monday of 2026-W52
  ];
  t.same(verdicts(items, '2w', '2027-01-05T10:00:00Z'), {
    'a-5': '+newest of week 2027-W01',
    'a-4': '+newest of week 2026-W53',
    'a-3': '-outside the grid 2w (a-4 holds week 2026-W53)',
    'a-2': '-outside the grid 2w (a-4 holds week 2026-W53)',
    'a-1': '-outside the grid 2w',
    'a-0': '-outside the grid 2w',
  });
  t.same(verdicts(items, '3w', '2027-01-04T00:00:00.000Z'), {
    'a-5': '+newest of week 2027-W01',
    'a-4': '+newest of week 2026-W53',
    'a-3': '-outside the grid 3w (a-4 holds week 2026-W53)',
    'a-2': '-outside the grid 3w (a-4 holds week 2026-W53)',
    'a-1': '+newest of week 2026-W52',
    'a-0': '-outside the grid 3w (a-1 holds week 2026-W52)',
  });
  // and the other way: 2024-12-30, a Monday in December, begins 2025-W01
  t.same(
    verdicts(
      [
        item('b-2', '2024-12-31T08:00:00Z'),
        item('b-1', '2024-12-29T23:59:59.999Z'),
        item('b-3', '2025-01-05T23:59:59.999Z'),
      ],
      '1w,1y',
      '2025-01-05T23:59:59.999Z',
    ),
    {
      'b-3': '+newest of week 2025-W01',
      'b-2': '-outside the grid 1w,1y (b-3 holds week 2025-W01)',
      'b-1': '-outside the grid 1w,1y',
    },
  );
  t.same(verdicts([item('b-1', '2024-12-29T12:00:00Z')], '1w', '2024-12-29T13:00:00Z'), {
    'b-1': '+newest of week 2024-W52',
  });
});

t.test('months end on their last millisecond, whatever their length; leap day included', async (t) => {
  const items = [
    item('a-4', '2026-03-01T00:00:00.000Z'),
    item('a-3', '2026-02-28T23:59:59.999Z'),
    item('a-2', '2026-01-31T23:59:59.999Z'),
    item('a-1', '2026-01-01T00:00:00.000Z'),
    item('a-0', '2025-12-31T23:59:59.999Z'),
  ];
  t.same(verdicts(items, '3m', '2026-03-15T00:00:00Z'), {
    'a-4': '+newest of month 2026-03',
    'a-3': '+newest of month 2026-02',
    'a-2': '+newest of month 2026-01',
    'a-1': '-outside the grid 3m (a-2 holds month 2026-01)',
    'a-0': '-outside the grid 3m',
  });
  t.same(verdicts(items, '1y', '2026-03-15T00:00:00Z'), {
    'a-4': '+newest of year 2026',
    'a-3': '-outside the grid 1y (a-4 holds year 2026)',
    'a-2': '-outside the grid 1y (a-4 holds year 2026)',
    'a-1': '-outside the grid 1y (a-4 holds year 2026)',
    'a-0': '-outside the grid 1y',
  });
  const leap = [
    item('l-3', '2028-03-01T00:00:00.000Z'),
    item('l-2', '2028-02-29T12:00:00.000Z'),
    item('l-1', '2028-02-28T23:59:59.999Z'),
  ];
  t.same(verdicts(leap, '2d', '2028-03-01T00:00:01Z'), {
    'l-3': '+newest of day 2028-03-01',
    'l-2': '+newest of day 2028-02-29',
    'l-1': '-outside the grid 2d',
  });
  t.same(verdicts(leap, '2m', '2028-03-01T00:00:01Z'), {
    'l-3': '+newest of month 2028-03',
    'l-2': '+newest of month 2028-02',
    'l-1': '-outside the grid 2m (l-2 holds month 2028-02)',
  });
  t.same(verdicts(leap, '2d', '2028-02-29T23:59:59.999Z'), {
    'l-3': '+newer than now',
    'l-2': '+newest of day 2028-02-29',
    'l-1': '+newest of day 2028-02-28',
  });
});

t.test('the same point in time: the higher id is the newer', async (t) => {
  const at = '2026-12-04T10:00:00Z';
  const items = [item('a-10', at), item('a-9', at), item('a-2', at)];
  t.same(verdicts(items, '1d', '2026-12-04T13:00:00Z'), {
    'a-10': '-outside the grid 1d (a-9 holds day 2026-12-04)',
    'a-9': '+newest of day 2026-12-04',
    'a-2': '-outside the grid 1d (a-9 holds day 2026-12-04)',
  });
  t.same(
    verdicts([item('a-1', at), item('a-2', at)], '1d', '2026-12-24T00:00:00Z'),
    { 'a-1': '-outside the grid 1d', 'a-2': '+the newest generation' },
    'also for the newest of all',
  );
  t.same(
    verdicts(
      [item('a-1', '2026-12-04T11:00:00+01:00'), item('a-0', '2026-12-04T10:00:00.000Z')],
      '1h',
      '2026-12-04T10:30:00Z',
    ),
    { 'a-1': '+newest of hour 2026-12-04 10h', 'a-0': '-outside the grid 1h (a-1 holds hour 2026-12-04 10h)' },
    'instants are compared, not the text: the same instant in another zone is a tie',
  );
});

t.test('an item kept by several rules gives the first rule of the grid', async (t) => {
  const items = [
    item('a-3', '2026-12-04T13:00:00Z'),
    item('a-2', '2026-12-03T20:00:00Z'),
    item('a-1', '2026-12-02T20:00:00Z'),
  ];
  t.same(verdicts(items, '24h,7d', '2026-12-04T13:30:00Z'), {
    'a-3': '+newest of hour 2026-12-04 13h',
    'a-2': '+newest of hour 2026-12-03 20h',
    'a-1': '+newest of day 2026-12-02',
  });
  t.same(verdicts(items, '7d,24h', '2026-12-04T13:30:00Z'), {
    'a-3': '+newest of day 2026-12-04',
    'a-2': '+newest of day 2026-12-03',
    'a-1': '+newest of day 2026-12-02',
  });
  t.same(
    verdicts(
      [item('a-2', '2026-12-04T13:00:00Z'), item('a-1', '2026-12-04T12:00:00Z')],
      '1h,1d,1w',
      '2026-12-04T13:30:00Z',
    ),
    {
      'a-2': '+newest of hour 2026-12-04 13h',
      'a-1': '-outside the grid 1h,1d,1w (a-2 holds day 2026-12-04)',
    },
    'a removed item names the first rule whose window holds it',
  );
});

t.test('the newest item is always kept; items newer than now are kept and hold no bucket', async (t) => {
  const old = [item('a-1', '2025-01-01T00:00:00Z'), item('a-2', '2025-02-01T00:00:00Z')];
  t.same(verdicts(old, '24h,7d', '2026-12-04T13:30:00Z'), {
    'a-1': '-outside the grid 24h,7d',
    'a-2': '+the newest generation',
  });
  t.same(verdicts(old, [], '2026-12-04T13:30:00Z'), {
    'a-1': '-outside the grid ',
    'a-2': '+the newest generation',
  });
  const skewed = [
    item('a-9', '2026-12-04T13:45:00Z'), // from a clock that was ahead
    item('a-8', '2026-12-04T13:10:00Z'),
    item('a-7', '2026-12-04T13:05:00Z'),
    item('a-1', '2025-01-01T00:00:00Z'),
  ];
  t.same(verdicts(skewed, '1h', '2026-12-04T13:30:00Z'), {
    'a-9': '+newer than now',
    'a-8': '+newest of hour 2026-12-04 13h',
    'a-7': '-outside the grid 1h (a-8 holds hour 2026-12-04 13h)',
    'a-1': '-outside the grid 1h',
  });
  t.same(
    verdicts([item('a-2', '2027-01-01T00:00:00Z'), item('a-1', '2025-01-01T00:00:00Z')], '1d', '2026-12-04T13:30:00Z'),
    {
      'a-2': '+newer than now',
      'a-1': '-outside the grid 1d',
    },
  );
  t.same(verdicts([item('a-1', '2026-12-04T13:30:00.000Z')], '1h', '2026-12-04T13:30:00.000Z'), {
    'a-1': '+newest of hour 2026-12-04 13h',
  });
});

t.test('an item whose point in time is not a time is kept, and said so', async (t) => {
  t.same(
    verdicts(
      [item('a-1', 'yesterday'), item('a-2', '2025-01-01T00:00:00Z'), item('a-3', '2024-01-01T00:00:00Z')],
      '1d',
      '2026-12-04T00:00:00Z',
    ),
    {
      'a-1': '+its point in time "yesterday" is not a time',
      'a-2': '+the newest generation',
      'a-3': '-outside the grid 1d',
    },
  );
});

/** Hourly generations at :15 from 2026-11-20 00:15 to 2026-12-04 13:15 (350), newest last. */
function hourly(): GridItem[] {
  const out: GridItem[] = [];
  for (let at = Date.parse('2026-11-20T00:15:00Z'); at <= Date.parse('2026-12-04T13:15:00Z'); at += 3_600_000)
    out.push(item(`g-${String(out.length).padStart(4, '0')}`, new Date(at).toISOString()));
  return out;
}

t.test('two weeks of hourly generations under 24h,7d,4w,12m', async (t) => {
  const items = hourly();
  t.equal(items.length, 350);
  const choices = selectByGrid(items, parseGrid('24h,7d,4w,12m'), new Date('2026-12-04T13:30:00Z'));
  t.same(
    choices.map((c) => c.item),
    items,
    'one choice per item, in the order given',
  );
  const kept = choices.filter((c) => c.keep);
  const at = (c: { item: GridItem }) => c.item.pointInTime.slice(0, 16);
  const hours = kept.filter((c) => c.reason.startsWith('newest of hour'));
  t.equal(hours.length, 24, 'the 24 hours from 14:00 yesterday to 13:00 today');
  t.equal(at(hours[0]!), '2026-12-03T14:15');
  t.equal(at(hours[23]!), '2026-12-04T13:15');
  t.same(
    kept.filter((c) => c.reason.startsWith('newest of day')).map((c) => `${at(c)} ${c.reason}`),
    [
      '2026-11-28T23:15 newest of day 2026-11-28',
      '2026-11-29T23:15 newest of day 2026-11-29',
      '2026-11-30T23:15 newest of day 2026-11-30',
      '2026-12-01T23:15 newest of day 2026-12-01',
      '2026-12-02T23:15 newest of day 2026-12-02',
    ],
    'the days the hours leave: the 3rd and 4th are held by their newest hours',
  );
  t.same(
    kept.filter((c) => /week|month|year|newest generation/.test(c.reason)).map((c) => `${at(c)} ${c.reason}`),
    ['2026-11-22T23:15 newest of week 2026-W47'],
    'W48 is held by the 29th (a day), W46 is empty, and both months by hours and days',
  );
  t.equal(kept.length, 30);
  t.equal(choices.filter((c) => !c.keep).length, 320);
  t.equal(
    choices.find((c) => c.item.pointInTime.startsWith('2026-11-20T00'))!.reason,
    'outside the grid 24h,7d,4w,12m (g-0071 holds week 2026-W47)',
  );
  const shuffled = [...items].reverse();
  const again = new Map(
    selectByGrid(shuffled, parseGrid('24h,7d,4w,12m'), new Date('2026-12-04T13:30:00Z')).map((c) => [
      c.item.id,
      c.reason,
    ]),
  );
  t.same(
    choices.map((c) => again.get(c.item.id)),
    choices.map((c) => c.reason),
    'the same verdicts whatever the order of the input',
  );
});
