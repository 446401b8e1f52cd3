// Lint for correctness, not layout: prettier formats, and eslint-config-prettier switches off
// every rule that would argue with it. Type-aware, so that promises nobody awaits are caught.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['node_modules/', '.cache/', '.data/', 'dist/', 'bench/results/', 'src/client/generated/', 'src/gql/'],
  },
  {
    files: ['{src,test,bench,scripts,tools}/**/*.ts', '*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // An async function without await is how this code implements a promise-returning interface
      // (a ranker, a probe, a Kafka batch handler): it also turns a throw into a rejection, which
      // dropping `async` would change. Every hit was such a case, none a forgotten await.
      '@typescript-eslint/require-await': 'off',
      // kafkajs's EachBatchPayload declares heartbeat/resolveOffset as methods, but they are
      // closures meant to be destructured (as kafkajs's own docs do); every hit was one of those.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  prettier,
);
