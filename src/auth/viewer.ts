import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config.js';
import { AppError } from '../core/errors.js';
import { isValidId } from '../core/events.js';

/**
 * Who is asking. A `user` acts for themselves only; a `service` (a backend) may act for any user;
 * `anonymous` may read public data (trending) only.
 */
export type Viewer =
  | { role: 'user'; userId: string }
  | { role: 'service'; userId?: undefined }
  | { role: 'anonymous'; userId?: undefined };

export type Authenticate = (authorization: string | null | undefined) => Promise<Viewer>;

const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', message);

/**
 * Verifies `Authorization: Bearer <JWT>` (HS256 with JWT_SECRET, or keys from JWKS_URL). The `sub`
 * claim is the user id; `role: "service"` marks a backend. Every token must expire, and within
 * `maxTtlSeconds` of being issued (of now, when it has no `iat`): a leaked token is then good for
 * a bounded time. In `dev` mode, no token is needed and every caller is a service: for a local
 * quick start only (main.ts logs it loudly).
 */
export function createAuthenticator(auth: Config['auth'] & { mode: 'jwt' | 'dev' }): Authenticate {
  if (auth.mode === 'dev') return async () => ({ role: 'service' });
  const key = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl)) : new TextEncoder().encode(auth.jwtSecret ?? '');
  const verifyOptions = {
    issuer: auth.issuer,
    audience: auth.audience,
    algorithms: auth.jwksUrl ? undefined : ['HS256'],
    requiredClaims: ['exp'],
  };
  return async (authorization) => {
    if (!authorization) return { role: 'anonymous' };
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match?.[1]) throw unauthenticated('Authorization must be "Bearer <token>"');
    let payload: JWTPayload;
    try {
      payload = (
        await jwtVerify(
          match[1],
          key as Parameters<typeof jwtVerify>[1],
          verifyOptions as Parameters<typeof jwtVerify>[2],
        )
      ).payload;
    } catch (error) {
      throw unauthenticated(`invalid token: ${error instanceof Error ? error.message : String(error)}`);
    }
    // jwtVerify checked that `exp` is present, a number, and in the future.
    const issuedAt = typeof payload.iat === 'number' ? payload.iat : Math.floor(Date.now() / 1000);
    if ((payload.exp ?? Infinity) - issuedAt > auth.maxTtlSeconds)
      throw unauthenticated(`invalid token: it must expire within ${auth.maxTtlSeconds} s of being issued`);
    if (payload.role === 'service') return { role: 'service' };
    if (!isValidId(payload.sub)) throw unauthenticated('token has no valid "sub" (user id)');
    return { role: 'user', userId: payload.sub };
  };
}

/** Whether a viewer may see operational detail (dependency errors and addresses). */
export const isService = (viewer: Viewer): boolean => viewer.role === 'service';

/**
 * The user an operation acts for: the viewer themselves, or (for a service) the named user.
 * Throws FORBIDDEN when a user names someone else, UNAUTHENTICATED when nobody is named.
 */
export function actingUser(viewer: Viewer, requested: string | null | undefined): string {
  if (viewer.role === 'user') {
    if (requested && requested !== viewer.userId) {
      throw new AppError('FORBIDDEN', 'a user token may only act for its own user', { field: 'userId' });
    }
    return viewer.userId;
  }
  if (viewer.role === 'service') {
    if (!requested)
      throw new AppError('BAD_USER_INPUT', 'userId is required for a service caller', { field: 'userId' });
    return requested;
  }
  throw unauthenticated('sign in: this operation needs a user or service token');
}

export function requireService(viewer: Viewer): void {
  if (viewer.role === 'service') return;
  if (viewer.role === 'anonymous') throw unauthenticated('sign in: this operation needs a service token');
  throw new AppError('FORBIDDEN', 'this operation needs a service token');
}
