// ESLint: correctness only. Layout is prettier's (npm run format); no rule here formats.
// TypeScript files are linted with type information (the tsconfig.json that holds each file), for the
// promise rules above all: a promise nobody awaits or catches is an unhandled rejection that ends the process.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // src/gen is ts-proto's output (npm run gen); dist/ and out/ are build output.
    ignores: ['src/gen/', '**/dist/', 'out/', '.cache/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    // The Web UI's module runs in the browser.
    files: ['web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A promise returned unawaited from inside try skips its catch and finally.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // A new member of a union (an error code, a status, a message kind) must reach every switch on it.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // An argument a signature must take but the body does not read: name it _x (tsc's noUnusedParameters agrees).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Off: the code marks indexed reads it knows are in range with ! (arr[i]!, about 630 of them), as it would under
      // tsc's noUncheckedIndexedAccess; without that flag every such ! reads as unnecessary. Turn this back on
      // together with noUncheckedIndexedAccess in tsconfig.json (about 20 reads lack their ! today).
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Off: an async function without await is how a function keeps a Promise-returning signature (handlers, stubs
      // in tests, fastify routes) and turns a throw into a rejection; the missing await that matters is
      // no-floating-promises' finding.
      '@typescript-eslint/require-await': 'off',
    },
  },
);
