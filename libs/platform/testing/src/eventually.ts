/**
 * Resolves with the first value `check` gives that is not undefined, asking again every
 * 25 ms; rejects naming `what` after `timeoutMs`. For waiting on an asynchronous effect
 * (an event appended, a request received): the limit is a safety net, not an assertion.
 */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what = 'condition', timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
