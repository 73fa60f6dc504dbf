// The layers of src/, enforced by `npm test` (npm run lint:layers): a module imports only from its
// own layer or the layers below it, never in a cycle. docs/architecture.md draws the same picture.
// Top to bottom:
const LAYERS = [
  ['cli'], // commands: parse options, call one service, print
  ['ui'], // the Ink printer and the terminal browser (loaded only when they draw)
  ['services'], // one function per command
  ['engine'], // the phases of a job: snapshot, copy, unsnap; job records, hooks run
  ['policy', 'prune', 'pools', 'check', 'output'], // decisions from catalog data and a clock; what a summary is
  ['providers', 'copy', 'ledger', 'browse', 'stores', 'archive', 'writers'], // snapshot mechanisms, the copy engine, hash ledgers, reading copies, archive stores and generations, application writers
  ['catalog'], // the catalog and history files, their schema and lookups
  ['system'], // the host: tools run, block devices, freeze, extent maps
  ['core'], // errors, events, ids, durations, byte ranges
];

const rank = new Map(LAYERS.flatMap((names, i) => names.map((name) => [name, i])));
const above = (i) => LAYERS.slice(0, i).flat();

const upward = LAYERS.flatMap((names, i) =>
  i === 0
    ? []
    : names.map((name) => ({
        name: `no-upward-from-${name}`,
        comment: `src/${name} is below ${above(i).join(', ')}: it may not import from them (move the shared piece down)`,
        severity: 'error',
        from: { path: `^src/${name}/` },
        to: { path: `^src/(${above(i).join('|')})/` },
      })),
);

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment:
        'modules that import each other, directly or around a loop: move what both need into one of them or below',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...upward,
    {
      name: 'ink-and-react-only-in-ui',
      comment: 'only src/ui draws: the engine emits events, printers consume them',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/ui/' },
      to: { path: '(^|/)node_modules/(ink|react|react-reconciler|yoga-layout)/' },
    },
    {
      name: 'child-processes-only-through-the-wrappers',
      comment:
        'outside programs run through src/system/tools.ts (argument arrays, captured output), hooks through src/engine/hooks.ts, guards through their modules',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(system/(tools|guard|guard-process)|engine/hooks)\\.ts$' },
      to: { path: '^(node:)?child_process$|(^|/)node_modules/execa/' },
    },
    {
      name: 'every-layer-is-known',
      comment:
        'a new folder of src/ needs its place in LAYERS (scripts/dependency-cruiser.cjs) and in docs/architecture.md',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${[...rank.keys()].join('|')})/` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
