/**
 * The Node flags the API process runs with, wherever it is started: `npm start`, the Dockerfile's
 * command (and so the Kubernetes example) and the bench's service under test. A test checks that
 * each of those passes them.
 *
 * `--max-semi-space-size=64` (MiB; V8's default is 16 on 64-bit): a request over 500 candidates
 * allocates about 440 KiB, most of it dead by the time the request ends, but with dozens of
 * requests in flight a scavenge of a small young generation still finds much of it alive and copies
 * it; a larger one is scavenged less often. In alternating saturated runs (10 rounds of 8 s each
 * way), 32 MiB against the default took the API's time in GC pauses from 9.6 % to 5.1 % of wall
 * time and its CPU per request down 7 %; 64 MiB against 32 took GC from 7.2 % to 4.9 % and CPU per
 * request down another 8 %, faster in all 10 rounds. The young generation grows to that size only
 * under load; at most it is about 144 MiB more than V8's default (three semi-spaces of 48 MiB more).
 */
export const API_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
