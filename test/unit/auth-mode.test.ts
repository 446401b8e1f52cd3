import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { resolveAuth } from '../../src/runtime/startup.js';

const secret = 'a-test-secret-that-is-long-enough-for-hs256';
const decide = (env: Record<string, string>) => resolveAuth(loadConfig(env));

describe('AUTH_MODE=auto', () => {
  const table: [string, 'jwt' | 'dev', Record<string, string>][] = [
    ['a secret, no Kafka or Redis configured', 'jwt', { JWT_SECRET: secret }],
    ['a secret, on every interface', 'jwt', { JWT_SECRET: secret, HOST: '0.0.0.0' }],
    ['a JWKS URL', 'jwt', { JWKS_URL: 'https://issuer.example/jwks.json', HOST: '0.0.0.0' }],
    [
      'a secret, external Kafka and Redis',
      'jwt',
      { JWT_SECRET: secret, KAFKA_BROKERS: 'k:9092', REDIS_URL: 'redis://r' },
    ],
    ['nothing, on 127.0.0.1', 'dev', { HOST: '127.0.0.1' }],
    ['nothing, on ::1', 'dev', { HOST: '::1' }],
    [
      'nothing, on localhost, external Kafka and Redis',
      'dev',
      { HOST: 'localhost', KAFKA_BROKERS: 'k:9092', REDIS_URL: 'redis://r' },
    ],
  ];
  it.each(table)('with %s chooses %s', (_what, mode, env) => {
    expect(decide(env)).toMatchObject({ mode });
  });

  it.each([
    ['on every interface', { HOST: '0.0.0.0' }],
    ['on a public address', { HOST: '203.0.113.7' }],
    ['on ::', { HOST: '::' }],
  ])('with nothing configured %s refuses to start, in one sentence', (_what, env) => {
    const decision = decide(env);
    const refusal = 'refuse' in decision ? decision.refuse : '';
    expect(refusal).toMatch(/^set JWT_SECRET or JWKS_URL [^\n]+$/);
  });

  it('is announced loudly whenever authentication is off', () => {
    const warning = (env: Record<string, string>) => {
      const decision = decide(env);
      return 'warning' in decision ? decision.warning : '';
    };
    expect(warning({})).toMatch(/AUTHENTICATION IS OFF/);
    expect(warning({ AUTH_MODE: 'dev', HOST: '0.0.0.0' })).toMatch(/AUTHENTICATION IS OFF.*0\.0\.0\.0/);
    expect(decide({ AUTH_MODE: 'jwt', JWT_SECRET: secret })).toEqual({ mode: 'jwt' });
  });
});
