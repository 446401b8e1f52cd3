/**
 * The Node flags the API process runs with, wherever it is started: `npm start`, the Dockerfile's
 * command (and so the Kubernetes example) and the bench's service under test. A test checks that
 * each of those passes them.
 *
 * `--max-semi-space-size=32` (MiB; V8's default is 16 on 64-bit): a request over 500 candidates
 * allocates about 440 KiB, most of it dead by the time the request ends, but with dozens of
 * requests in flight a scavenge of a small young generation still finds much of it alive and copies
 * it. A young generation twice as large is scavenged half as often. In alternating saturated runs
 * the API's time in GC pauses went from 9.6 % to 5.1 % of wall time and its CPU per request down
 * 7 %, for up to about 48 MiB more memory per process (three semi-spaces of 16 MiB more, at most).
 */
export const API_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
