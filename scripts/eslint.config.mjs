// The linter's rules (npm run lint; checked by npm test in test/shape/lint.test.ts). Structure
// first: how long a function may be, how many parameters it takes, how deep it nests. Every
// function of src/ meets them, and none may be excused: inline `eslint-disable` comments are not
// obeyed (noInlineConfig, and --no-inline-config in npm run lint and the test).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**'] },
  {
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    linterOptions: { noInlineConfig: true },
    extends: [tseslint.configs.base],
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-params': ['error', 5],
      'max-depth': ['error', 4],
      'max-nested-callbacks': ['error', 4],
      'no-var': 'error',
      'prefer-const': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-throw-literal': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
);
