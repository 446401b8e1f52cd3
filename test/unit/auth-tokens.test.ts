import { spawnSync } from 'node:child_process';
import { decodeJwt, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, type Viewer } from '../../src/auth/viewer.js';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/core/errors.js';
import { demoPage } from '../../src/http/demo.js';
import { serviceStatus } from '../../src/resolvers/queries/status.js';

const secret = 'a-test-secret-that-is-long-enough-for-hs256';

function sign(claims: { exp?: number | string; iat?: number; sub?: string }) {
  let jwt = new SignJWT({ role: 'user' }).setProtectedHeader({ alg: 'HS256' }).setSubject(claims.sub ?? 'u1');
  if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
  return jwt.sign(new TextEncoder().encode(secret));
}

function authenticator(env: Record<string, string> = {}) {
  const config = loadConfig({ AUTH_MODE: 'jwt', JWT_SECRET: secret, ...env });
  return createAuthenticator({ ...config.auth, mode: 'jwt' });
}

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return (error as AppError).code;
};

describe('tokens', () => {
  const now = Math.floor(Date.now() / 1000);

  it('accepts a token that expires within the maximum lifetime', async () => {
    const viewer = await authenticator()(`Bearer ${await sign({ iat: now, exp: now + 3600 })}`);
    expect(viewer).toEqual({ role: 'user', userId: 'u1' });
  });

  it('refuses a token without an expiry', async () => {
    expect(await refusal(authenticator()(`Bearer ${await sign({ iat: now })}`))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token that lives longer than JWT_MAX_TTL_SECONDS (24 h by default)', async () => {
    const long = await sign({ iat: now, exp: now + 48 * 3600 });
    expect(await refusal(authenticator()(`Bearer ${long}`))).toBe('UNAUTHENTICATED');
    const noIat = await sign({ exp: now + 48 * 3600 });
    expect(await refusal(authenticator()(`Bearer ${noIat}`))).toBe('UNAUTHENTICATED');
    const viewer = await authenticator({ JWT_MAX_TTL_SECONDS: String(72 * 3600) })(`Bearer ${long}`);
    expect(viewer.role).toBe('user');
  });

  it('takes keys from an https JWKS URL, or http on this machine only', () => {
    expect(() => loadConfig({ JWKS_URL: 'http://issuer.example/jwks.json' })).toThrow(/JWKS_URL: expected an https/);
    expect(loadConfig({ JWKS_URL: 'https://issuer.example/jwks.json' }).auth.jwksUrl).toBeDefined();
    expect(loadConfig({ JWKS_URL: 'http://127.0.0.1:8080/jwks.json' }).auth.jwksUrl).toBeDefined();
    expect(loadConfig({ JWKS_URL: 'http://localhost:8080/jwks.json' }).auth.jwksUrl).toBeDefined();
  });
});

describe('what anonymous callers learn', () => {
  const readiness = async () => [
    { name: 'kafka', up: true },
    { name: 'redis', up: false, detail: 'connect ECONNREFUSED 10.0.0.5:6379' },
  ];
  const status = (viewer: Viewer) => serviceStatus({ viewer, domain: { readiness } });

  it('the status query shows only up or down to anyone but a service', async () => {
    for (const viewer of [{ role: 'anonymous' }, { role: 'user', userId: 'u1' }] as const) {
      const s = await status(viewer);
      expect(s.ready).toBe(false);
      expect(s.dependencies).toEqual([
        { name: 'kafka', up: true, detail: null },
        { name: 'redis', up: false, detail: null },
      ]);
    }
    const service = await status({ role: 'service' });
    expect(service.dependencies[1]?.detail).toContain('ECONNREFUSED');
  });

  it('the demo page never reads a token from its URL', () => {
    const html = demoPage();
    expect(html).not.toMatch(/params\.get\(['"]token['"]\)/);
    expect(html).toContain('sessionStorage');
  });
});

describe('npm run token', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'tools/token.ts', ...args], {
      env: { ...process.env, JWT_SECRET: secret, JWT_MAX_TTL_SECONDS: '' },
      encoding: 'utf8',
    });

  it('prints a token that expires, and refuses a lifetime the API would refuse', () => {
    const ok = run(['--user', 'u1', '--ttl', '600']);
    expect(ok.status).toBe(0);
    const claims = decodeJwt(ok.stdout.trim());
    expect(claims.sub).toBe('u1');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
    const tooLong = run(['--user', 'u1', '--ttl', String(48 * 3600)]);
    expect(tooLong.status).toBe(2);
    expect(tooLong.stderr).toMatch(/--ttl must be whole seconds from 1 to JWT_MAX_TTL_SECONDS \(86400\)/);
  });
});
