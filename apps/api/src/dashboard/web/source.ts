/**
 * Browser source code kept verbatim in a TypeScript module (tsc emits only .ts files and the
 * image ships only dist/, so the dashboard's browser modules live in string constants).
 *
 * Write the browser code as is, except: a backtick is written \` and an interpolation \${
 * (a template literal inside the template literal). Backslashes are kept exactly as
 * written, so `/\x1b\[/` in the source is `/\x1b\[/` in the browser. A bare `${` would be a
 * TypeScript substitution: it is rejected when the module loads.
 */
export function source(strings: TemplateStringsArray, ...values: never[]): string {
  if (values.length) throw new Error('browser source must not contain ${} substitutions: write \\${ for an interpolation in the browser code');
  return strings.raw[0].replace(/\\`/g, '`').replace(/\\\$\{/g, '${').replace(/^\n/, '');
}
