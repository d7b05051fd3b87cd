const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * Formats a zod/YAML path the way users read it: `steps[1].env.FOO`, `steps[0]["my key"]`.
 * Numbers are 0-based sequence indexes. The root path formats as an empty string.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      if (IDENTIFIER_RE.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
