import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build, as Pothos does; make Vite do the same so that
  // only one copy of graphql is loaded.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
    projects: [
      // Pure code: no Kafka, no Redis, seconds (`npm run test:unit`).
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Against the real broker and Redis that the global setup starts once for the run.
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      // The stream's exactness against its brute-force reference, and its redelivery, again on a
      // Redis Cluster of three masters with a replica each (test/cluster.test.ts runs the whole
      // service there, the failover tests kill a master and a broker).
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/stream-windows.test.ts', 'test/stream-steps.test.ts'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
