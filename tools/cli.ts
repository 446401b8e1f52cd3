/**
 * What every command-line tool does the same way: fail with a one-line message and exit code 2 (a
 * usage or configuration error, not a crash), and read the configuration once.
 */
import { exitWithUsageError, loadConfigOrExit } from '../src/runtime/startup.js';

export { loadConfigOrExit };

/** A function that prints `<command>: <message>` to stderr and exits with code 2. */
export const failWith =
  (command: string) =>
  (message: string): never =>
    exitWithUsageError(command, message);

/** An ISO date-time option as epoch ms, `fallback` when absent; exits 2 when it does not parse. */
export function timeOption(text: string | undefined, option: string, fallback: number, fail: (m: string) => never) {
  if (text === undefined) return fallback;
  const t = Date.parse(text);
  return Number.isNaN(t) ? fail(`--${option}: expected an ISO date-time, got "${text}"`) : t;
}
