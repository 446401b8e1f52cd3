/** HS256 tokens signed with JWT_SECRET: what `npm run token` prints and the attack probes send. */
import { SignJWT } from 'jose';

export interface TokenClaims {
  /** The user id (absent for a service token). */
  sub?: string;
  role: 'user' | 'service';
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
}

export async function signToken(secret: string, claims: TokenClaims): Promise<string> {
  let jwt = new SignJWT({ role: claims.role })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`);
  if (claims.sub) jwt = jwt.setSubject(claims.sub);
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
