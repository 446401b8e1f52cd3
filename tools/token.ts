/**
 * `npm run token -- --user <id> [--role service] [--ttl <seconds>]`: prints an HS256 token signed
 * with JWT_SECRET, for trying the API and for tests of other services. It always expires (`exp`),
 * at most JWT_MAX_TTL_SECONDS after it was issued, as the API requires.
 */
import { parseArgs } from 'node:util';
import { signToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    role: { type: 'string', default: 'user' },
    ttl: { type: 'string', default: '3600' },
  },
});
const config = loadConfig();
if (!config.auth.jwtSecret) {
  process.stderr.write('JWT_SECRET is not set (at least 32 characters)\n');
  process.exit(2);
}
if (values.role !== 'user' && values.role !== 'service') {
  process.stderr.write('--role must be user or service\n');
  process.exit(2);
}
const ttlSeconds = Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > config.auth.maxTtlSeconds) {
  // The API refuses tokens without an expiry or living longer than JWT_MAX_TTL_SECONDS.
  process.stderr.write(`--ttl must be whole seconds from 1 to JWT_MAX_TTL_SECONDS (${config.auth.maxTtlSeconds})\n`);
  process.exit(2);
}
if (values.role === 'user' && !values.user) {
  process.stderr.write('--user <id> is required for a user token\n');
  process.exit(2);
}
process.stdout.write(
  `${await signToken(config.auth.jwtSecret, { sub: values.user, role: values.role, ttlSeconds, issuer: config.auth.issuer, audience: config.auth.audience })}\n`,
);
