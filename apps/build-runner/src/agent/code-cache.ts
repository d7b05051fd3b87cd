/** What the agent's loader (tools/agent-start.js) leaves on `globalThis` under this symbol. */
const HOOK = Symbol.for('kiln.agent.codeCache');

interface CodeCacheHook {
  /** Whether this process started from a code cache V8 accepted. */
  used: boolean;
  /** Writes the cache of everything compiled so far, when none was usable; says what it did. */
  save(): string;
}

/**
 * Once a build is done, has the loader write V8's code cache if this agent started without
 * a usable one: every function the build ran is compiled by then, so the agents after it
 * skip that work between lease and first step. Null when there is nothing to do (the cache
 * was used, or the agent was not started through the loader: tests, unbundled runs).
 */
export function saveCodeCacheAfterBuild(): string | null {
  const hook = (globalThis as Record<symbol, unknown>)[HOOK] as CodeCacheHook | undefined;
  if (!hook || hook.used) return null;
  return hook.save();
}
