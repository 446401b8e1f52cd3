import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the project's own client operations (tests, benchmarks, the demo page),
 * generated from the checked-in schema.graphql. Run `npm run codegen` after changing either.
 */
const config: CodegenConfig = {
  schema: './schema.graphql',
  documents: ['operations/**/*.graphql'],
  generates: {
    './src/client/generated/': {
      preset: 'client',
      config: {
        scalars: { DateTime: 'string', ID: 'string' },
        useTypeImports: true,
        enumsAsTypes: true,
      },
      presetConfig: { fragmentMasking: false },
    },
  },
  // ESM with NodeNext resolution: relative imports need their .js extension.
  importExtension: '.js',
  hooks: { afterAllFileWrite: ['prettier --write'] },
};

export default config;
