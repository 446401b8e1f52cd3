/**
 * The one way anything here waits for a condition: poll `probe` until it returns a truthy value.
 * A probe says "not yet" by returning a falsy value or by throwing (the error's message is kept as
 * the detail). On timeout the error names what was awaited and the last detail seen.
 */
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Checked before every attempt: a reason to stop waiting at once (e.g. the process died). */
  abortIf?: () => string | undefined;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false | 0 | ''>,
  { timeoutMs = 30_000, intervalMs = 100, abortIf }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    const reason = abortIf?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      const value = await probe();
      if (value) return value;
      last = `last seen: ${JSON.stringify(value)}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not done within ${timeoutMs} ms (${last})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
